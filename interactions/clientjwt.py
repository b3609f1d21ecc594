"""Trusting CDS clients (CDS Hooks 2.0): verify the EHR's JWT on each call with PyJWT.

Keys are configured, never fetched (a `jku` header is ignored): each allowed issuer has a JWK Set
and/or a PEM public key. A token's key is chosen by its `kid` and by the family of its algorithm
(ES384 needs an EC P-384 key, RS384 an RSA key), so a key set that mixes RSA and EC keys works and
a key is never used with an algorithm of another family. Every failure is a short reason for a 401;
nothing a caller sends can raise out of `JwtVerifier.verify`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import NamedTuple

# The algorithms the specification requires CDS services to support, and the key type each needs.
ALGORITHMS = {"ES384": ("EC", "P-384"), "RS384": ("RSA", None)}
DEFAULT_LEEWAY = 60
DEFAULT_MAX_LIFETIME = 3600
DEFAULT_REPLAY_CACHE = 1_000_000
CONFIG_KEYS = ("base_url", "issuers", "leeway_seconds", "max_lifetime_seconds", "replay_cache_size")
MAX_TOKEN = 16 * 1024


class Key(NamedTuple):
    """One configured public key: its kid (None for a PEM key), type, curve, JWK alg and the key object."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: object


class Denied(NamedTuple):
    """Why a call is refused: the HTTP status (401, or 503 when the replay cache is full) and a short reason."""

    status: int
    reason: str


class ReplayCache:
    """Remember (issuer, jti) pairs until no token carrying them can still be accepted.

    Every pair is kept for the same span, `keep` seconds from when it is first seen (the longest a
    token accepted now stays acceptable: its lifetime plus the clock-skew allowance on both ends),
    so pairs expire in the order they were added: each call drops the expired ones from the front
    of an OrderedDict and does one lookup, O(1) amortised however many pairs are held. Rebuilding a
    dict of live ids on every call cost 447 ms per call with a million ids. When `size` pairs are
    live the cache refuses new ones rather than forget one that could still be replayed.
    """

    def __init__(self, size: int, keep: float):
        self.size = size
        self.keep = keep
        self.entries: OrderedDict = OrderedDict()

    def add(self, key, now: float) -> bool | None:
        """Record `key`: True if it is new, False if it was seen (a replay), None if the cache is full."""
        entries = self.entries
        while entries:
            first = next(iter(entries.values()))
            if first > now:
                break
            entries.popitem(last=False)
        if key in entries:
            return False
        if len(entries) >= self.size:
            return None
        entries[key] = now + self.keep
        return True


def _number(config: dict, name: str, default, low, high, problems: list):
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        problems.append(f"'{name}' must be a number from {low} to {high}")
        return default
    return value


def load_keys(issuers: dict, problems: list) -> dict:
    """Return {issuer: [Key]} from the config's issuers; append a problem for each key that cannot be used."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    out: dict = {}
    for issuer, spec in issuers.items():
        keys = []
        if not isinstance(spec, dict) or not ("jwks" in spec or "public_key_pem" in spec) or set(spec) - {"jwks", "public_key_pem"}:
            problems.append(f"issuer {issuer!r}: needs 'jwks' and/or 'public_key_pem', and nothing else")
            continue
        jwks = spec.get("jwks", {"keys": []})
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            problems.append(f"issuer {issuer!r}: 'jwks' must be a JWK Set: {{\"keys\": [...]}}")
            jwks = {"keys": []}
        for i, jwk in enumerate(jwks["keys"]):
            where = f"issuer {issuer!r}: jwks key {i}"
            if not isinstance(jwk, dict) or jwk.get("kty") not in ("EC", "RSA"):
                problems.append(f"{where}: 'kty' must be EC or RSA")
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", "ES384" if jwk["kty"] == "EC" else "RS384") not in ALGORITHMS:
                problems.append(f"{where}: only signing keys for ES384 or RS384 are used ('use': 'sig')")
                continue
            if jwk["kty"] == "EC" and jwk.get("crv") != "P-384":
                problems.append(f"{where}: an EC key for ES384 must be on the P-384 curve")
                continue
            try:
                parsed = jwt.PyJWK(jwk, algorithm="ES384" if jwk["kty"] == "EC" else "RS384")
            except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
            keys.append(Key(kid, jwk["kty"], jwk.get("crv"), jwk.get("alg"), parsed.key))
        if "public_key_pem" in spec:
            try:
                key = load_pem_public_key(str(spec["public_key_pem"]).encode())
            except (ValueError, TypeError) as exc:
                problems.append(f"issuer {issuer!r}: 'public_key_pem': {exc}")
            else:
                if isinstance(key, rsa.RSAPublicKey):
                    keys.append(Key(None, "RSA", None, None, key))
                elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1):
                    keys.append(Key(None, "EC", "P-384", None, key))
                else:
                    problems.append(f"issuer {issuer!r}: 'public_key_pem' must be an RSA key or an EC P-384 key")
        out[issuer] = keys
    return out


def config_problems(config) -> list:
    """Return what is wrong with a JWT configuration (empty when it is usable)."""
    if not isinstance(config, dict):
        return ["expected a JSON object"]
    problems = [f"unknown key {key!r} (expected one of {', '.join(CONFIG_KEYS)})" for key in config if key not in CONFIG_KEYS]
    if not isinstance(config.get("base_url"), str) or not config["base_url"].startswith(("https://", "http://")):
        problems.append("'base_url' must be the service's public URL, e.g. \"https://cds.example.org\"")
    issuers = config.get("issuers")
    if not isinstance(issuers, dict) or not issuers:
        problems.append("'issuers' must map each allowed issuer to {\"jwks\": {...}} or {\"public_key_pem\": \"...\"}")
    else:
        load_keys(issuers, problems)
    _number(config, "leeway_seconds", DEFAULT_LEEWAY, 0, 600, problems)
    _number(config, "max_lifetime_seconds", DEFAULT_MAX_LIFETIME, 1, 86400, problems)
    _number(config, "replay_cache_size", DEFAULT_REPLAY_CACHE, 1, 100_000_000, problems)
    return problems


class JwtVerifier:
    """Check the bearer JWT of a call: issuer allow-list, key, signature, audience, times, lifetime and replay.

    `leeway_seconds` (default 60) is the clock skew allowed on exp, iat and nbf; `max_lifetime_seconds`
    (default 3600) bounds exp - iat, so a client cannot mint a token that stays valid for days;
    `replay_cache_size` bounds how many recent (iss, jti) pairs are held.
    """

    def __init__(self, config: dict, clock=time.time):
        import jwt

        self._jwt = jwt
        self.clock = clock
        problems: list = []
        self.base_url = config["base_url"].rstrip("/")
        self.keys = load_keys(config["issuers"], problems)
        self.leeway = _number(config, "leeway_seconds", DEFAULT_LEEWAY, 0, 600, problems)
        self.max_lifetime = _number(config, "max_lifetime_seconds", DEFAULT_MAX_LIFETIME, 1, 86400, problems)
        size = int(_number(config, "replay_cache_size", DEFAULT_REPLAY_CACHE, 1, 100_000_000, problems))
        self.replay = ReplayCache(size, self.max_lifetime + 2 * self.leeway)

    def verify(self, header: str | None, path: str) -> Denied | None:
        """Return why the call is refused, or None if its bearer token is valid for this endpoint."""
        try:
            return self._verify(header, path)
        except Exception as exc:  # noqa: BLE001 - whatever a token does to a library, it is a 401, never a 500
            return Denied(401, f"invalid JWT ({type(exc).__name__})")

    def _verify(self, header: str | None, path: str) -> Denied | None:
        jwt = self._jwt
        if not header or not header[:7].lower() == "bearer ":
            return Denied(401, "missing 'Authorization: Bearer <JWT>'")
        token = header[7:].strip()
        if len(token) > MAX_TOKEN:
            return Denied(401, "invalid JWT: too long")
        try:
            head = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return Denied(401, "invalid JWT: not a signed JWT")
        alg, kid, issuer = head.get("alg"), head.get("kid"), unverified.get("iss")
        if alg not in ALGORITHMS:
            return Denied(401, f"invalid JWT: algorithm {str(alg)[:20]!r} is not allowed (ES384 or RS384)")
        if kid is not None and not isinstance(kid, str):
            return Denied(401, "invalid JWT: 'kid' must be a string")
        if not isinstance(issuer, str) or issuer not in self.keys:
            return Denied(401, f"issuer {str(issuer)[:200]!r} is not on the allow-list")
        kty, crv = ALGORITHMS[alg]
        candidates = [k for k in self.keys[issuer] if k.kty == kty and (crv is None or k.crv == crv) and k.alg in (None, alg)
                      and (kid is None or k.kid in (None, kid))]
        # A key with the token's kid is the one; keys without a kid (PEM) are tried only when none has it.
        named = [k for k in candidates if kid is not None and k.kid == kid]
        candidates = named or candidates
        if not candidates:
            return Denied(401, f"invalid JWT: no {alg} key of this issuer has kid {str(kid)[:64]!r}")
        audience = f"{self.base_url}{path}"
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=issuer, leeway=self.leeway,
                                    options={"require": ["exp", "iat", "jti", "iss", "aud"]})
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                return Denied(401, "invalid JWT: expired")
            except jwt.ImmatureSignatureError:
                return Denied(401, f"invalid JWT: issued in the future (more than {self.leeway:g} s of clock skew)")
            except jwt.InvalidAudienceError:
                return Denied(401, f"invalid JWT: 'aud' must be {audience}")
            except jwt.MissingRequiredClaimError as exc:
                return Denied(401, f"invalid JWT: no '{exc.claim}' claim")
            except jwt.PyJWTError as exc:
                return Denied(401, f"invalid JWT: {str(exc)[:100]}")
        if claims is None:
            return Denied(401, "invalid JWT: the signature does not verify")
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if exp - iat > self.max_lifetime:
            return Denied(401, f"invalid JWT: lifetime (exp - iat) over {self.max_lifetime:g} s")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return Denied(401, "invalid JWT: 'jti' must be a string of 1 to 256 characters")
        seen = self.replay.add((issuer, jti), self.clock())
        if seen is False:
            return Denied(401, "JWT 'jti' was already used (replay)")
        if seen is None:
            return Denied(503, "too many recent client JWTs to check for replay; try again later")
        return None
