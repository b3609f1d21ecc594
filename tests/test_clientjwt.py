"""Trusting CDS clients: the JWT matrix, in-process against interactions.clientjwt.JwtVerifier."""

from __future__ import annotations

import json
import time
import uuid

import pytest

jwt = pytest.importorskip("jwt")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

from interactions.clientjwt import Denied, JwtVerifier, ReplayCache, config_problems  # noqa: E402

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
PATH = "/cds-services/interactions-order-sign"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC = ec.generate_private_key(ec.SECP384R1())


def jwk(key, **extra):
    algorithm = jwt.algorithms.ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else jwt.algorithms.RSAAlgorithm
    return {**json.loads(algorithm.to_jwk(key.public_key())), **extra}


# RSA first and without "alg": PyJWK would call it RS256; a mixed set gave a 500 on a valid ES384 token.
MIXED = {"keys": [jwk(RSA_KEY, kid="rsa-1"), jwk(EC_KEY, kid="ec-1", alg="ES384", use="sig")]}


def config(**extra):
    return {"base_url": BASE, "issuers": {ISS: {"jwks": MIXED}}, **extra}


def token(key=EC_KEY, alg="ES384", kid="ec-1", iat_offset=0, lifetime=300, drop=(), **claims):
    now = int(time.time())
    body = {"iss": ISS, "aud": BASE + PATH, "iat": now + iat_offset, "exp": now + iat_offset + lifetime, "jti": str(uuid.uuid4()), "sub": "client"}
    body.update(claims)
    for name in drop:
        body.pop(name)
    headers = {"kid": kid} if kid is not None else {}
    return "Bearer " + jwt.encode(body, key, algorithm=alg, headers=headers)


def verify(header, verifier=None, path=PATH):
    return (verifier or JwtVerifier(config())).verify(header, path)


def forged_none():
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "kid": "ec-1"}).encode()).decode()
    now = int(time.time())
    payload = jwt.utils.base64url_encode(json.dumps({"iss": ISS, "aud": BASE + PATH, "iat": now, "exp": now + 60, "jti": "n"}).encode()).decode()
    return f"Bearer {header}.{payload}."


def hs256_with_the_public_key():
    """Algorithm confusion: sign HS256 with the RSA public key's PEM as the HMAC secret."""
    import base64
    import hashlib
    import hmac

    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    enc = [jwt.utils.base64url_encode(json.dumps(x).encode()).decode() for x in (
        {"alg": "HS256", "kid": "rsa-1"}, {"iss": ISS, "aud": BASE + PATH, "iat": now, "exp": now + 60, "jti": "h"})]
    signature = base64.urlsafe_b64encode(hmac.new(pem, ".".join(enc).encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"Bearer {'.'.join(enc)}.{signature}"


@pytest.mark.parametrize("header, expected", [
    (lambda: token(), None),
    (lambda: token(kid=None), None),  # no kid: every key of the family is tried
    (lambda: token(RSA_KEY, "RS384", "rsa-1"), None),
    (lambda: token(RSA_KEY, "RS384", None), None),
    (lambda: token(iat_offset=5), None),  # an iat 5 s ahead is clock skew, not an error
    (lambda: token(iat_offset=-330, lifetime=300), None),  # expired 30 s ago, within the 60 s allowance
    (lambda: token(lifetime=3600), None),
    (lambda: None, Denied(401, "missing 'Authorization: Bearer <JWT>'")),
    (lambda: "Basic dXNlcjpwdw==", Denied(401, "missing 'Authorization: Bearer <JWT>'")),
    (lambda: "Bearer not.a.jwt", Denied(401, "invalid JWT: not a signed JWT")),
    (lambda: "Bearer " + "A" * 20000, Denied(401, "invalid JWT: too long")),
    (lambda: token(OTHER_RSA, "RS384", "rsa-1"), Denied(401, "invalid JWT: the signature does not verify")),  # forged RS384
    (lambda: token(OTHER_EC, "ES384", "ec-1"), Denied(401, "invalid JWT: the signature does not verify")),
    (lambda: token(RSA_KEY, "RS384", "ec-1"), Denied(401, "invalid JWT: no RS384 key of this issuer has kid 'ec-1'")),  # kid of another family
    (lambda: token(EC_KEY, "ES384", "nope"), Denied(401, "invalid JWT: no ES384 key of this issuer has kid 'nope'")),
    (lambda: token(RSA_KEY, "RS256", "rsa-1"), Denied(401, "invalid JWT: algorithm 'RS256' is not allowed (ES384 or RS384)")),
    (forged_none, Denied(401, "invalid JWT: algorithm 'none' is not allowed (ES384 or RS384)")),
    (hs256_with_the_public_key, Denied(401, "invalid JWT: algorithm 'HS256' is not allowed (ES384 or RS384)")),
    (lambda: token(iss="https://evil.example"), Denied(401, "issuer 'https://evil.example' is not on the allow-list")),
    (lambda: token(aud="https://elsewhere/x"), Denied(401, f"invalid JWT: 'aud' must be {BASE}{PATH}")),
    (lambda: token(iat_offset=120), Denied(401, "invalid JWT: issued in the future (more than 60 s of clock skew)")),
    (lambda: token(iat_offset=-400, lifetime=300), Denied(401, "invalid JWT: expired")),
    (lambda: token(lifetime=3601), Denied(401, "invalid JWT: lifetime (exp - iat) over 3600 s")),
    (lambda: token(iat_offset=-3000, lifetime=86400), Denied(401, "invalid JWT: lifetime (exp - iat) over 3600 s")),
    (lambda: token(drop=("jti",)), Denied(401, "invalid JWT: no 'jti' claim")),
    (lambda: token(drop=("exp",)), Denied(401, "invalid JWT: no 'exp' claim")),
    (lambda: token(drop=("iat",)), Denied(401, "invalid JWT: no 'iat' claim")),
    (lambda: token(jti=5), Denied(401, "invalid JWT: JWT ID must be a string")),
    (lambda: token(jti=""), Denied(401, "invalid JWT: 'jti' must be a string of 1 to 256 characters")),
    (lambda: token(drop=("iss",)), Denied(401, "issuer 'None' is not on the allow-list")),
], ids=["es384", "es384-no-kid", "rs384", "rs384-no-kid", "iat-5s-ahead", "expired-within-skew", "1h-lifetime", "no-header", "basic", "garbage",
        "huge", "forged-rs384", "forged-es384", "kid-of-other-family", "unknown-kid", "rs256", "alg-none", "hs256-confusion", "issuer", "audience",
        "iat-2min-ahead", "expired", "lifetime-over-1h", "lifetime-1-day", "no-jti", "no-exp", "no-iat", "jti-number", "jti-empty", "no-iss"])
def test_jwt_matrix(header, expected):
    assert verify(header()) == expected


def test_skew_and_lifetime_are_configurable():
    strict = JwtVerifier(config(leeway_seconds=0, max_lifetime_seconds=60))
    assert verify(token(iat_offset=5), strict) == Denied(401, "invalid JWT: issued in the future (more than 0 s of clock skew)")
    assert verify(token(lifetime=120), strict) == Denied(401, "invalid JWT: lifetime (exp - iat) over 60 s")
    assert verify(token(lifetime=60), strict) is None


def test_a_pem_key_and_a_jwks_of_one_issuer_work_side_by_side():
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    verifier = JwtVerifier({"base_url": BASE, "issuers": {ISS: {"public_key_pem": pem, "jwks": {"keys": [jwk(EC_KEY, kid="ec-1")]}}}})
    assert verify(token(RSA_KEY, "RS384", "whatever"), verifier) is None
    assert verify(token(), verifier) is None
    assert verify(token(OTHER_RSA, "RS384", None), verifier) == Denied(401, "invalid JWT: the signature does not verify")


def test_a_replayed_jti_is_refused_per_issuer():
    verifier = JwtVerifier(config())
    once = token(jti="same")
    assert verify(once, verifier) is None
    assert verify(once, verifier) == Denied(401, "JWT 'jti' was already used (replay)")
    assert verify(token(jti="same"), verifier) == Denied(401, "JWT 'jti' was already used (replay)")  # a new token, an old id


def test_the_replay_cache_forgets_an_id_only_when_no_token_with_it_can_be_accepted():
    cache = ReplayCache(size=10, keep=3600 + 2 * 60)
    assert cache.add(("iss", "a"), now=1000.0) is True
    assert cache.add(("iss", "a"), now=1000.0 + 3719) is False
    assert cache.add(("iss", "a"), now=1000.0 + 3721) is True  # any token with it has expired, skew included


def test_the_replay_cache_is_bounded_and_refuses_rather_than_forgets():
    cache = ReplayCache(size=3, keep=100)
    assert [cache.add(("i", str(n)), now=0.0) for n in range(4)] == [True, True, True, None]
    assert cache.add(("i", "0"), now=0.0) is False
    assert cache.add(("i", "new"), now=100.0) is True  # the old ones expired: room again
    assert len(cache.entries) == 1


def test_a_full_replay_cache_is_a_503_not_a_pass():
    verifier = JwtVerifier(config(replay_cache_size=1))
    assert verify(token(), verifier) is None
    assert verify(token(), verifier) == Denied(503, "too many recent client JWTs to check for replay; try again later")


def test_the_replay_cache_costs_the_same_with_a_million_ids():
    cache = ReplayCache(size=2_000_000, keep=3720)
    for n in range(1_000_000):
        cache.entries[("iss", str(n))] = 10_000.0
    start = time.perf_counter()
    for n in range(1000):
        assert cache.add(("iss", f"new-{n}"), now=1.0) is True
    per_call = (time.perf_counter() - start) / 1000
    assert per_call < 0.001, per_call  # the old cache rebuilt a dict per call: 447 ms with 1M ids


def test_anything_a_library_raises_is_a_401():
    verifier = JwtVerifier(config())
    verifier._jwt = None  # every use of the library now raises AttributeError
    assert verifier.verify(token(), PATH) == Denied(401, "invalid JWT (AttributeError)")


@pytest.mark.parametrize("bad, problem", [
    ({"issuers": {ISS: {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}}}, f"issuer {ISS!r}: jwks key 0: 'kty' must be EC or RSA"),
    ({"issuers": {ISS: {"jwks": {"keys": [jwk(ec.generate_private_key(ec.SECP256R1()), kid="p256")]}}}},
     f"issuer {ISS!r}: jwks key 0: an EC key for ES384 must be on the P-384 curve"),
    ({"issuers": {ISS: {"jwks": {"keys": [jwk(RSA_KEY, alg="RS256")]}}}}, f"issuer {ISS!r}: jwks key 0: only signing keys for ES384 or RS384 are used ('use': 'sig')"),
    ({"issuers": {ISS: {"public_key_pem": "not a key"}}}, None),
    ({"leeway_seconds": -1}, "'leeway_seconds' must be a number from 0 to 600"),
    ({"max_lifetime_seconds": "1h"}, "'max_lifetime_seconds' must be a number from 1 to 86400"),
    ({"replay_cache": 5}, "unknown key 'replay_cache' (expected one of base_url, issuers, leeway_seconds, max_lifetime_seconds, replay_cache_size)"),
])
def test_config_problems(bad, problem):
    problems = config_problems({**config(), **bad})
    assert problems and (problem is None or problems == [problem])
    assert config_problems(config()) == []
