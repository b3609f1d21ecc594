"""The CDS Hooks HTTP service (Starlette + uvicorn); a thin shell over interactions.cdshooks."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import cdshooks
from .index import Index


@dataclass
class Settings:
    """Server limits and security options."""

    max_body: int = 1024 * 1024
    read_timeout: float = 10.0
    fetch_timeout: float = 5.0
    cors_origins: tuple = ()
    jwt: dict | None = None  # {"issuers": {iss: {"jwks": {...}} | {"public_key_pem": "..."}}, "base_url": "https://..."}
    today: object = field(default=date.today)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(cdshooks.operation_outcome(code, message), status_code=status)


class _JwtVerifier:
    """Verify CDS client JWTs (CDS Hooks 'Trusting CDS Clients'): signature, issuer allow-list, audience, expiry, replay."""

    ALGORITHMS = ["ES384", "RS384"]

    def __init__(self, config: dict):
        import jwt

        self._jwt = jwt
        self.base_url = (config.get("base_url") or "").rstrip("/")
        self.keys: dict = {}
        for issuer, spec in (config.get("issuers") or {}).items():
            keys = []
            if "jwks" in spec:
                keys += [jwt.PyJWK(k) for k in spec["jwks"].get("keys", [])]
            if "public_key_pem" in spec:
                keys.append(spec["public_key_pem"])
            self.keys[issuer] = keys
        self.seen: dict = {}

    def verify(self, header: str | None, path: str) -> str | None:
        """Return an error message, or None if the bearer token is valid for this endpoint."""
        jwt = self._jwt
        if not header or not header.lower().startswith("bearer "):
            return "missing 'Authorization: Bearer <JWT>'"
        token = header[7:].strip()
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return f"malformed JWT: {exc}"
        issuer = unverified.get("iss")
        if issuer not in self.keys:
            return f"issuer {issuer!r} is not on the allow-list"
        audience = f"{self.base_url}{path}"
        last = "no key for this issuer"
        for key in self.keys[issuer]:
            try:
                claims = jwt.decode(
                    token, key.key if hasattr(key, "key") else key, algorithms=self.ALGORITHMS, audience=audience,
                    issuer=issuer, options={"require": ["exp", "iat", "jti", "iss", "aud"]},
                )
            except jwt.InvalidSignatureError as exc:
                last = str(exc)
                continue
            except jwt.PyJWTError as exc:
                return f"invalid JWT: {exc}"
            now = time.time()
            self.seen = {j: exp for j, exp in self.seen.items() if exp > now}
            if claims["jti"] in self.seen:
                return "JWT 'jti' was already used (replay)"
            self.seen[claims["jti"]] = claims["exp"]
            return None
        return f"invalid JWT: {last}"


def _fetcher(timeout: float):
    def fetch(call: cdshooks.Call, relative: str):
        """GET a prefetch query from the client's FHIR server with its bearer token."""
        base = str(call.fhir_server).rstrip("/")
        request = urllib.request.Request(f"{base}/{relative}", headers={"Accept": "application/fhir+json"})
        if call.access_token:
            request.add_header("Authorization", f"Bearer {call.access_token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the client named this server
            return json.loads(response.read(4 * 1024 * 1024))

    return fetch


def _gather(call: cdshooks.Call, fetch) -> dict:
    """Fetch what the prefetch left missing; a failure is data (the key stays missing), never an error answer."""
    data = dict(call.prefetch)
    for key, relative in cdshooks.queries(call).items():
        try:
            data[key] = cdshooks.read_data(key, fetch(call, relative), key)
        except (urllib.error.URLError, OSError, ValueError, cdshooks.HookError):
            data[key] = cdshooks.Data(None, missing=cdshooks.FETCH_FAILED)
    return data


def jwt_config_problems(config) -> list:
    """Return what is wrong with a JWT configuration (empty when it is usable)."""
    if not isinstance(config, dict):
        return ["expected a JSON object"]
    problems = []
    if not isinstance(config.get("base_url"), str) or not config["base_url"].startswith(("https://", "http://")):
        problems.append("'base_url' must be the service's public URL, e.g. \"https://cds.example.org\"")
    issuers = config.get("issuers")
    if not isinstance(issuers, dict) or not issuers:
        problems.append("'issuers' must map each allowed issuer to {\"jwks\": {...}} or {\"public_key_pem\": \"...\"}")
    else:
        for issuer, spec in issuers.items():
            if not isinstance(spec, dict) or not ("jwks" in spec or "public_key_pem" in spec):
                problems.append(f"issuer {issuer!r}: needs 'jwks' or 'public_key_pem'")
    return problems


def create_app(index: Index, settings: Settings | None = None) -> Starlette:
    """Build the ASGI application."""
    settings = settings or Settings()
    verifier = _JwtVerifier(settings.jwt) if settings.jwt else None
    fetch = _fetcher(settings.fetch_timeout)

    async def read_json(request: Request):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body:
            return _error(413, "too-long", f"request body over {settings.max_body} bytes")
        chunks: list = []

        async def receive() -> bool:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > settings.max_body:
                    return False
                chunks.append(chunk)
            return True

        try:
            # wait_for works on Python 3.10 too (asyncio.timeout arrived in 3.11).
            complete = await asyncio.wait_for(receive(), settings.read_timeout)
        except (asyncio.TimeoutError, TimeoutError):
            return _error(408, "timeout", f"request body not received within {settings.read_timeout:g} s")
        if not complete:
            return _error(413, "too-long", f"request body over {settings.max_body} bytes")
        try:
            return json.loads(b"".join(chunks))
        except (ValueError, RecursionError):
            return _error(400, "invalid", "the request body is not valid JSON")

    def authorise(request: Request):
        if verifier is None:
            return None
        problem = verifier.verify(request.headers.get("authorization"), request.url.path)
        return _error(401, "security", problem) if problem else None

    async def services(request: Request):
        return JSONResponse(cdshooks.discovery(index.scope))

    async def invoke(request: Request):
        denied = authorise(request)
        if denied:
            return denied
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        service_id = request.path_params["service_id"]
        try:
            call = cdshooks.prepare(service_id, body)
            if call.fhir_server and cdshooks.queries(call):
                # Run in a worker thread only for the network fetch; the check itself is quick and pure.
                data = await asyncio.to_thread(_gather, call, fetch)
                result = cdshooks.answer(index, call, data, settings.today())
            else:
                result = cdshooks.answer(index, call, call.prefetch, settings.today(), cdshooks.NO_SERVER)
        except cdshooks.HookError as exc:
            return _error(exc.status, exc.code, exc.message)
        return JSONResponse(result)

    async def feedback(request: Request):
        denied = authorise(request)
        if denied:
            return denied
        if request.path_params["service_id"] not in cdshooks.SERVICES:
            return _error(404, "not-found", f"unknown CDS service '{request.path_params['service_id']}'")
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        try:
            cdshooks.read_feedback(body)
        except cdshooks.HookError as exc:
            return _error(exc.status, exc.code, exc.message)
        return Response(status_code=200)

    async def not_found(request: Request, exc):
        return _error(404, "not-found", f"no such endpoint: {request.url.path}")

    async def method_not_allowed(request: Request, exc):
        return _error(405, "not-supported", f"method {request.method} not allowed on {request.url.path}")

    async def server_error(request: Request, exc):
        return _error(500, "exception", f"internal error: {type(exc).__name__}")

    middleware = []
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                                     allow_headers=["Authorization", "Content-Type"]))
    return Starlette(
        routes=[
            Route("/cds-services", services, methods=["GET"]),
            Route("/cds-services/{service_id}", invoke, methods=["POST"]),
            Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
        ],
        middleware=middleware,
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error, Exception: server_error},
    )


def serve(index: Index, host: str, port: int, settings: Settings) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(index, settings), host=host, port=port, log_level="warning", timeout_keep_alive=5, access_log=False)
