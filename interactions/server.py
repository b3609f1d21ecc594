"""The CDS Hooks HTTP service (Starlette + uvicorn); a thin shell over interactions.cdshooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from dataclasses import dataclass, field
from datetime import date, datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import cdshooks, web
from .index import Index
from .inputs import InputError

LOG = logging.getLogger("interactions.server")


@dataclass
class Settings:
    """Server limits and security options.

    Fetching from a call's fhirServer is off unless `allowed_servers` (cdshooks.Origin values, from
    `serve --allow-fhir-server`) names it. `fetch_timeout` bounds each fetch from connecting to the
    last byte, `fetch_budget` all the fetches of one call; `max_fetches` fetches run at once in the
    whole service and `fetches_per_call` in one call; at most `max_pages` next pages are followed.
    Slow clients: a request's headers must arrive within `header_timeout` s of its first byte (or of
    the connection), its body within `read_timeout` s; an idle keep-alive connection is closed after
    `keep_alive_timeout` s; beyond `max_connections` connections and requests uvicorn answers 503.
    """

    max_body: int = 1024 * 1024
    read_timeout: float = 10.0
    header_timeout: float = 10.0
    keep_alive_timeout: int = 5
    max_connections: int = 256
    allowed_servers: tuple = ()
    fetch_timeout: float = 5.0
    fetch_budget: float = 10.0
    max_fetches: int = 16
    fetches_per_call: int = 4
    max_pages: int = 5
    max_fetch_bytes: int = 4 * 1024 * 1024
    cors_origins: tuple = ()
    jwt: dict | None = None  # see interactions.clientjwt: {"base_url": "https://...", "issuers": {iss: {"jwks": {...}}}, ...}
    today: object = field(default=date.today)
    # The pharmacist's page at / (and /check.json): on unless `serve` binds beyond loopback without --page.
    page: bool = True
    now: object = field(default=lambda: datetime.now().astimezone())


# The page loads nothing but its own stylesheet and posts only to itself; no script runs at all.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # a result holds a patient's list
}
FORM_TYPE = "application/x-www-form-urlencoded"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(cdshooks.operation_outcome(code, message), status_code=status)


def _internal_error(exc: BaseException, where: str) -> JSONResponse:
    """Log a bug in one line (what and where, not the request) and answer 500 without details."""
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    LOG.error("internal error in %s: %s%s", where, type(exc).__name__, at)
    return _error(500, "exception", "internal error")


class _FetchFailed(Exception):
    """A fetch that gave no usable answer; the message is for the server log only."""


class _Fetcher:
    """GET prefetch queries from allow-listed FHIR servers.

    httpx rather than urllib: urllib's timeout applies to each socket read, so a server that trickles
    bytes held a worker thread for minutes; here each fetch is one coroutine under asyncio.wait_for,
    whose deadline covers connecting, waiting for a slot and reading, and cancelling it closes the
    connection. Redirects are never followed (a 3xx is a failed fetch), so the bearer token goes only
    to the allow-listed server; proxies and .netrc from the environment are ignored (trust_env=False).
    """

    ACCEPT = "application/fhir+json, application/json+fhir;q=0.9, application/json;q=0.8"

    def __init__(self, settings: Settings):
        import httpx

        self._httpx = httpx
        self.settings = settings
        limits = httpx.Limits(max_connections=settings.max_fetches, max_keepalive_connections=settings.max_fetches)
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False, verify=ssl.create_default_context(),
                                        timeout=httpx.Timeout(settings.fetch_timeout), limits=limits)
        self.slots = asyncio.Semaphore(settings.max_fetches)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def get(self, url: str, token: str | None, timeout: float, server: str):
        """Return the JSON at `url`, or None if it could not be had within `timeout` seconds (logged with `server`, never raised)."""
        try:
            return await asyncio.wait_for(self._get(url, token), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            reason = f"no complete answer within {timeout:.3g} s"
        except _FetchFailed as exc:
            reason = str(exc)
        except (self._httpx.HTTPError, OSError, ValueError, RecursionError) as exc:
            reason = type(exc).__name__
        LOG.warning("fetch from FHIR server %s failed: %s", server, reason)
        return None

    async def _get(self, url: str, token: str | None):
        # identity: a compressed answer could expand far beyond max_fetch_bytes in one read.
        headers = {"Accept": self.ACCEPT, "Accept-Encoding": "identity"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.slots, self.client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise _FetchFailed(f"HTTP {response.status_code}" + (" (redirect not followed)" if 300 <= response.status_code < 400 else ""))
            if response.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
                raise _FetchFailed("compressed answer")
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self.settings.max_fetch_bytes:
                    raise _FetchFailed(f"answer over {self.settings.max_fetch_bytes} bytes")
        return json.loads(bytes(body))

    async def gather(self, call: cdshooks.Call, server: cdshooks.Origin) -> dict:
        """Fetch what the prefetch left missing and the next pages of the medication lists; failures become missing data.

        The call's access token is checked (HookError 400) only when something is to be fetched with it.
        """
        settings = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.fetch_budget
        per_call = asyncio.Semaphore(settings.fetches_per_call)

        async def fetch(url: str):
            token = cdshooks.bearer_token(call)
            async with per_call:
                remaining = min(settings.fetch_timeout, deadline - loop.time())
                return await self.get(url, token, remaining, server.base) if remaining > 0 else None

        async def fetch_key(key: str, relative: str) -> cdshooks.Data:
            value = await fetch(cdshooks.fetch_url(server, relative))
            if not cdshooks.expects(key, value):
                return cdshooks.Data(None, missing=cdshooks.FETCH_FAILED)
            try:
                return cdshooks.read_data(key, value, key)
            except cdshooks.HookError:
                return cdshooks.Data(None, missing=cdshooks.FETCH_FAILED)

        data = dict(call.prefetch)
        wanted = cdshooks.queries(call)
        data.update(zip(wanted, await asyncio.gather(*(fetch_key(k, q) for k, q in wanted.items())), strict=True))
        for key in ("medications", "statements"):
            data[key] = await self._pages(key, data[key], server, cdshooks.searched_type(cdshooks.query(call, key)), fetch)
        return data

    async def _pages(self, key: str, data: cdshooks.Data, server: cdshooks.Origin, resource_type: str, fetch) -> cdshooks.Data:
        """Follow a search Bundle's next links on the same server, up to max_pages; what is left stays incomplete."""
        value, pages = data.value, 0
        while pages < self.settings.max_pages:
            link = cdshooks.next_link(value)
            if link is None or not cdshooks.may_follow(server, link, resource_type):
                break
            page = await fetch(link)
            if not (isinstance(page, dict) and page.get("resourceType") == "Bundle"):
                break
            try:
                cdshooks.read_data(key, page, key)
            except cdshooks.HookError:
                break
            value, pages = cdshooks.merge_page(value, page), pages + 1
        return cdshooks.read_data(key, value, key) if pages else data


def jwt_config_problems(config) -> list:
    """Return what is wrong with a JWT configuration (empty when it is usable)."""
    from .clientjwt import config_problems

    return config_problems(config)


def create_app(index: Index, settings: Settings | None = None) -> Starlette:
    """Build the ASGI application."""
    settings = settings or Settings()
    if settings.jwt:
        from .clientjwt import JwtVerifier

        verifier = JwtVerifier(settings.jwt)
    else:
        verifier = None
    state: dict = {"fetcher": None}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # Without an allow-listed server nothing is ever fetched, and no HTTP client exists.
        state["fetcher"] = _Fetcher(settings) if settings.allowed_servers else None
        try:
            yield
        finally:
            if state["fetcher"] is not None:
                await state["fetcher"].close()

    async def read_body(request: Request):
        """Return the body's bytes, or (status, code, message) when it is too large or too slow."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body:
            return 413, "too-long", f"request body over {settings.max_body} bytes"
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
            return 408, "timeout", f"request body not received within {settings.read_timeout:g} s"
        if not complete:
            return 413, "too-long", f"request body over {settings.max_body} bytes"
        return b"".join(chunks)

    async def read_json(request: Request):
        body = await read_body(request)
        if isinstance(body, tuple):
            return _error(*body)
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            return _error(400, "invalid", "the request body is not valid JSON")

    def authorise(request: Request):
        if verifier is None:
            return None
        denied = verifier.verify(request.headers.get("authorization"), request.url.path)
        if denied is None:
            return None
        LOG.warning("call to %s refused: %s", request.url.path, denied.reason)
        return _error(denied.status, "security" if denied.status == 401 else "transient", denied.reason)

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
            fetcher = state["fetcher"]
            server = cdshooks.allowed_server(call.fhir_server, settings.allowed_servers) if fetcher and call.fhir_server else None
            if server is None:
                data, not_fetched = call.prefetch, (cdshooks.NOT_ALLOWED if call.fhir_server else cdshooks.NO_SERVER)
            else:
                data, not_fetched = await fetcher.gather(call, server), None
            result = cdshooks.answer(index, call, data, settings.today(), not_fetched)
        except cdshooks.HookError as exc:
            return _error(exc.status, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug: one log line, never a traceback with request data
            return _internal_error(exc, request.url.path)
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

    known_names = frozenset(index.display.values())

    def html(status: int, **page) -> HTMLResponse:
        return HTMLResponse(web.render(known=known_names, **page), status_code=status, headers=PAGE_HEADERS)

    async def read_page_input(request: Request):
        """Return the form's fields as sent (a GET query or a POST body), or (status, code, message) with what went wrong."""
        if request.method != "POST":
            return request.url.query
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != FORM_TYPE:
            return 415, "not-supported", f"send the form as {FORM_TYPE}, as the form on this page does"
        return await read_body(request)

    def run_check(form: web.Form):
        """Check the form's list exactly as `interactions check` does (web.read_request); raise InputError."""
        from .engine import check

        parsed, check_request = web.read_request(form, settings.today())
        return check(index, check_request, parsed.skipped, parsed.notes)

    async def page(request: Request):
        data = await read_page_input(request)
        if isinstance(data, tuple):
            status, _, message = data
            if status == 413:
                message = f"the form is over {settings.max_body} bytes (a list may have at most 500 medications of 1000 characters)"
            return html(status, error=message)
        form = None
        try:
            form = web.read_form(data)
            if request.method != "POST" and form.empty:
                return html(200)
            report = run_check(form)
        except InputError as exc:
            return html(400, form=form, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: one log line, never a traceback with the patient's list
            _internal_error(exc, request.url.path)
            return html(500, error="internal error: the list was not checked; the server log says where")
        return html(200, form=form, report=report, now=settings.now())

    async def check_json(request: Request):
        data = await read_page_input(request)
        if isinstance(data, tuple):
            return _error(*data)
        try:
            report = run_check(web.read_form(data))
        except InputError as exc:
            return _error(400, "invalid", str(exc))
        except Exception as exc:  # noqa: BLE001 - as in page()
            return _internal_error(exc, request.url.path)
        from .formatters import format_json

        return Response(format_json(report), media_type="application/json", headers={"Cache-Control": "no-store"})

    async def stylesheet(request: Request):
        return Response(web.stylesheet(), media_type="text/css", headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    async def not_found(request: Request, exc):
        return _error(404, "not-found", f"no such endpoint: {request.url.path}")

    async def method_not_allowed(request: Request, exc):
        return _error(405, "not-supported", f"method {request.method} not allowed on {request.url.path}")

    async def server_error(request: Request, exc):
        return _internal_error(exc, request.url.path)

    middleware = []
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                                     allow_headers=["Authorization", "Content-Type"]))
    routes = [
        Route("/cds-services", services, methods=["GET"]),
        Route("/cds-services/{service_id}", invoke, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
    ]
    if settings.page:
        routes += [
            Route("/", page, methods=["GET", "POST"]),
            Route("/check.json", check_json, methods=["GET", "POST"]),
            Route("/page.css", stylesheet, methods=["GET"]),
        ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error, Exception: server_error},
    )


def header_deadline_protocol(header_timeout: float):
    """Return uvicorn's h11 protocol with a deadline for a request's headers.

    uvicorn has no such option: its keep-alive timer only runs between requests and every byte
    received cancels it, so a client that sends a header byte every few seconds (or connects and
    sends nothing) held a connection for as long as it liked (over 70 s in the review). Here the
    clock starts when the connection opens or a new request's first byte arrives, is not reset by
    later bytes, and stops once h11 has the complete headers; when it runs out the connection is
    closed. The body has its own deadline in the application (read_timeout, 408).
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        def connection_made(self, transport) -> None:
            self._header_timer = None
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:
                self._arm()  # a request starts: its headers have header_timeout seconds from now
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


def serve(index: Index, host: str, port: int, settings: Settings) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(index, settings), host=host, port=port, log_level="warning", access_log=False,
                http=header_deadline_protocol(settings.header_timeout), timeout_keep_alive=settings.keep_alive_timeout,
                limit_concurrency=settings.max_connections)
