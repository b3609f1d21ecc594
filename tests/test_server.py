"""The CDS Hooks service, tested over real HTTP against a server process on a free loopback port."""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*extra, tmp_path=None):
    port = free_port()
    env = {"INTERACTIONS_CACHE_DIR": str(tmp_path / "cache")} if tmp_path else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "interactions", "serve", "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=None if env is None else {**__import__("os").environ, **env},
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, port = start_server(tmp_path=tmp_path_factory.mktemp("srv"))
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def call(port, method, path, body=None, headers=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, (json.loads(payload) if payload else None)


def med_request(rid, text, status="active", route=None):
    resource = {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order", "medicationCodeableConcept": {"text": text}}
    if route:
        resource["dosageInstruction"] = [{"route": {"coding": [{"system": "http://snomed.info/sct", "code": route}]}}]
    return resource


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def hook_body(hook, drafts, active, selections=None, patient=None, egfr=None, drop=()):
    context = {"userId": "Practitioner/1", "patientId": "p1", "draftOrders": bundle(*drafts)}
    if hook == "order-select":
        context["selections"] = selections if selections is not None else [f"MedicationRequest/{d['id']}" for d in drafts]
    prefetch = {
        "patient": patient or {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01"},
        "medications": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in active]},
        "statements": None,
        "egfr": None if egfr is None else {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
            "resourceType": "Observation", "id": "e1", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
            "effectiveDateTime": "2026-01-01", "valueQuantity": {"value": egfr}}}]},
    }
    for key in drop:
        prefetch.pop(key)
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}


def test_discovery(server):
    status, data = call(server, "GET", "/cds-services")
    assert status == 200
    hooks = {s["id"]: s["hook"] for s in data["services"]}
    assert hooks == {"interactions-order-select": "order-select", "interactions-order-sign": "order-sign"}
    prefetch = data["services"][0]["prefetch"]
    assert prefetch["medications"] == "MedicationRequest?patient={{context.patientId}}&status=active"
    assert prefetch["statements"] == "MedicationStatement?patient={{context.patientId}}&status=active"
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert "33914-3" in prefetch["egfr"] and "_sort=-date" in prefetch["egfr"]


def test_order_select_baclofen_with_an_active_benzodiazepine(server):
    body = hook_body("order-select", [med_request("new", "baclofen 10 mg TID", status="draft")], [med_request("old", "lorazepam 1 mg BID")])
    status, data = call(server, "POST", "/cds-services/interactions-order-select", body)
    assert status == 200
    assert len(data["cards"]) == 1
    card = data["cards"][0]
    assert set(card) == {"uuid", "summary", "indicator", "detail", "source", "overrideReasons"}
    assert card["summary"] == "Moderate: Additive CNS depression (baclofen, lorazepam)"
    assert card["indicator"] == "warning"
    assert card["source"] == {"label": "interactions: CNS-depressant interaction rules", "topic": {"system": "urn:interactions:rule", "code": "additive-cns-depression", "display": "Additive CNS depression"}}
    assert "- baclofen → centrally acting muscle relaxant → CNS depressant ← sedative-hypnotic ← benzodiazepine ← lorazepam" in card["detail"]
    assert "**What to do:** Check that each is needed" in card["detail"]
    assert "[baclofen-pi-7-1]" in card["detail"]
    assert str(uuid.UUID(card["uuid"])) == card["uuid"]
    assert [r["code"] for r in card["overrideReasons"]] == ["benefit-outweighs-risk", "already-tolerated", "dose-adjusted", "not-applicable"]
    # The uuid is stable for the same finding.
    _, again = call(server, "POST", "/cds-services/interactions-order-select", body)
    assert again["cards"][0]["uuid"] == card["uuid"]


def test_order_select_focuses_on_the_selection(server):
    drafts = [med_request("a", "baclofen 10 mg", status="draft"), med_request("b", "sertraline 50 mg", status="draft")]
    active = [med_request("old", "alcohol")]
    _, only_sertraline = call(server, "POST", "/cds-services/interactions-order-select", hook_body("order-select", drafts, active, selections=["MedicationRequest/b"]))
    assert only_sertraline == {"cards": []}
    _, baclofen = call(server, "POST", "/cds-services/interactions-order-select", hook_body("order-select", drafts, active, selections=["MedicationRequest/a"]))
    assert [c["summary"] for c in baclofen["cards"]] == ["Major: Alcohol with a CNS depressant (baclofen, alcohol)"]
    # Selecting sertraline when it makes a third CNS-active drug is a real warning, at age 76 major.
    drafts[1] = med_request("b", "sertraline 50 mg", status="draft")
    active = [med_request("old", "oxycodone 5 mg")]
    _, third = call(server, "POST", "/cds-services/interactions-order-select", hook_body("order-select", drafts, active, selections=["MedicationRequest/b"]))
    assert [c["summary"] for c in third["cards"]] == ["Major: Three or more CNS-active drugs (baclofen, oxycodone, sertraline)"]


def test_order_sign_with_patient_context(server):
    body = hook_body("order-sign", [med_request("new", "baclofen 10 mg TID", status="draft")], [med_request("o1", "oxycodone 5 mg"), med_request("o2", "sertraline")], egfr=40)
    status, data = call(server, "POST", "/cds-services/interactions-order-sign", body)
    assert status == 200
    summaries = [c["summary"] for c in data["cards"]]
    # Within a severity, cards follow the order of rules.yaml: the opioid interaction first.
    assert summaries == [
        "Major: Opioid with another CNS depressant (baclofen, oxycodone)",
        "Major: Three or more CNS-active drugs (baclofen, oxycodone, sertraline)",
        "Major: Baclofen with reduced kidney function (baclofen)",
    ]
    assert "**Severity:** major because eGFR 40 < 60" in data["cards"][2]["detail"]
    assert "**Route:** baclofen: oral (assumed)" in data["cards"][2]["detail"]


def test_contraindicated_is_critical_and_intrathecal_route(server):
    body = hook_body("order-sign", [med_request("x", "Xyrem 4.5 g nightly", status="draft")], [med_request("o", "Ambien 10 mg")])
    _, data = call(server, "POST", "/cds-services/interactions-order-sign", body)
    assert [(c["indicator"], c["summary"]) for c in data["cards"]] == [("critical", "Contraindicated: Oxybate with a sedative-hypnotic: contraindicated (sodium oxybate, zolpidem)")]


def test_unknown_medication_gives_an_incomplete_card(server):
    body = hook_body("order-select", [med_request("new", "baclofen", status="draft")], [med_request("old", "zuranolonx 30 mg")])
    status, data = call(server, "POST", "/cds-services/interactions-order-select", body)
    assert status == 200
    assert len(data["cards"]) == 1
    card = data["cards"][0]
    assert card["summary"] == "Interaction check incomplete: 1 medication(s) not identified"
    assert card["indicator"] == "warning"
    assert "- zuranolonx 30 mg (MedicationRequest/old) (did you mean zuranolone? not applied)" in card["detail"]


def test_missing_required_prefetch_is_412(server):
    body = hook_body("order-select", [med_request("new", "baclofen", status="draft")], [], drop=("medications",))
    status, data = call(server, "POST", "/cds-services/interactions-order-select", body)
    assert status == 412
    assert data["resourceType"] == "OperationOutcome"
    assert data["issue"][0]["diagnostics"] == "missing required prefetch medications: not in the prefetch, and no fhirServer to fetch it from"


@pytest.mark.parametrize(
    "path, raw, status, diagnostics",
    [
        ("/cds-services/interactions-order-select", b"{not json", 400, "the request body is not valid JSON"),
        ("/cds-services/nope", b"{}", 404, "unknown CDS service 'nope'; see GET /cds-services"),
        ("/cds-services/interactions-order-sign", json.dumps({"hook": "order-select", "hookInstance": "x", "context": {}}).encode(), 400, "service 'interactions-order-sign' answers the 'order-sign' hook, not 'order-select'"),
        ("/cds-services/interactions-order-sign", json.dumps({"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p"}}).encode(), 400, "context.draftOrders (a FHIR Bundle) is required"),
        ("/nothing-here", b"{}", 404, "no such endpoint: /nothing-here"),
        ("/cds-services/interactions-order-sign", json.dumps({"hook": "order-sign", "hookInstance": "x", "fhirServer": "http://127.0.0.1:9", "prefetch": 5, "context": {"patientId": "p", "draftOrders": {"resourceType": "Bundle"}}}).encode(), 400, "'prefetch' must be an object"),
    ],
)
def test_errors_are_operation_outcomes(server, path, raw, status, diagnostics):
    got, data = call(server, "POST", path, raw=raw)
    assert got == status
    assert data == {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": data["issue"][0]["code"], "diagnostics": diagnostics}]}


def test_body_over_the_cap_is_413(server):
    status, data = call(server, "POST", "/cds-services/interactions-order-select", raw=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert status == 413
    assert data["issue"][0]["diagnostics"] == "request body over 1048576 bytes"


def test_server_survives_garbage_and_keeps_answering(server):
    for raw in (b"\x00\xff\xfe", b"[]", b"null", json.dumps({"hook": "order-select"}).encode(), b'{"hook": "order-select", "hookInstance": "1", "context": {"patientId": "p", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": 5}]}, "selections": []}}'):
        status, _ = call(server, "POST", "/cds-services/interactions-order-select", raw=raw)
        assert status in (400, 412)
    assert call(server, "GET", "/cds-services")[0] == 200


def test_concurrent_requests_are_never_mixed_up(server):
    cases = []
    for i in range(40):
        if i % 2:
            cases.append((hook_body("order-sign", [med_request(f"n{i}", "baclofen", status="draft")], [med_request("o", "alcohol")]), "Major: Alcohol with a CNS depressant (baclofen, alcohol)"))
        else:
            cases.append((hook_body("order-sign", [med_request(f"n{i}", "oxycodone", status="draft")], [med_request("o", "Xanax")]), "Major: Opioid with a benzodiazepine (alprazolam, oxycodone)"))

    def run(case):
        body, expected = case
        status, data = call(server, "POST", "/cds-services/interactions-order-sign", body)
        return status == 200 and [c["summary"] for c in data["cards"]] == [expected]

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert all(pool.map(run, cases))


def test_feedback_endpoint(server):
    ok, _ = call(server, "POST", "/cds-services/interactions-order-select/feedback", {"feedback": [{"card": "abc", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T00:00:00Z"}]})
    assert ok == 200
    bad, data = call(server, "POST", "/cds-services/interactions-order-select/feedback", {"feedback": [{"card": "abc"}]})
    assert bad == 400


def test_jwt_verification(tmp_path):
    jwt = pytest.importorskip("jwt")
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public_jwk.update(kid="k1", alg="ES384")
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update(kid="r1")  # no alg: a mixed RSA + EC set once gave a 500 on a valid ES384 token
    config = tmp_path / "jwt.json"
    config.write_text(json.dumps({"base_url": "https://cds.example.org", "issuers": {"https://ehr.example.org": {"jwks": {"keys": [rsa_jwk, public_jwk]}}}}))
    proc, port = start_server("--jwt-config", str(config), tmp_path=tmp_path)
    path = "/cds-services/interactions-order-sign"

    def token(aud=f"https://cds.example.org{path}", iss="https://ehr.example.org", jti=None, signer=key, alg="ES384", kid="k1"):
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": jti or str(uuid.uuid4()), "sub": "client"}
        return jwt.encode(claims, signer, algorithm=alg, headers={"kid": kid})

    body = hook_body("order-sign", [med_request("new", "baclofen", status="draft")], [med_request("o", "alcohol")])
    try:
        assert call(port, "POST", path, body)[0] == 401
        assert call(port, "POST", path, body, {"Authorization": f"Bearer {token()}"})[0] == 200
        assert call(port, "POST", path, body, {"Authorization": f"Bearer {token(signer=rsa_key, alg='RS384', kid='r1')}"})[0] == 200
        status, data = call(port, "POST", path, body, {"Authorization": f"Bearer {token(signer=forger, alg='RS384', kid='r1')}"})
        assert (status, data["issue"][0]["diagnostics"]) == (401, "invalid JWT: the signature does not verify")
        status, data = call(port, "POST", path, body, {"Authorization": f"Bearer {token(aud='https://elsewhere/x')}"})
        assert status == 401 and data["issue"][0]["diagnostics"] == f"invalid JWT: 'aud' must be https://cds.example.org{path}"
        status, data = call(port, "POST", path, body, {"Authorization": f"Bearer {token(iss='https://evil.example')}"})
        assert data["issue"][0]["diagnostics"] == "issuer 'https://evil.example' is not on the allow-list"
        once = token(jti="same")
        assert call(port, "POST", path, body, {"Authorization": f"Bearer {once}"})[0] == 200
        status, data = call(port, "POST", path, body, {"Authorization": f"Bearer {once}"})
        assert status == 401 and data["issue"][0]["diagnostics"] == "JWT 'jti' was already used (replay)"
        status, data = call(port, "POST", path + "/feedback", {"feedback": []}, {"Authorization": f"Bearer {token()}"})
        assert status == 401  # the token names the hook endpoint, not the feedback endpoint
        assert call(port, "GET", "/cds-services")[0] == 200  # discovery stays public
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    log = proc.stderr.read().decode()
    assert "Traceback" not in log
    assert "refused: invalid JWT: the signature does not verify" in log


def _closed_within(sock, seconds: float) -> float | None:
    """Wait for the server to close `sock` (recv returns b'' or the socket is reset); return how long it took, or None."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(65536):
                return time.monotonic() - start
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start
    except socket.timeout:
        return None


def test_slow_clients_are_dropped(tmp_path):
    proc, port = start_server("--header-timeout", "1", "--keep-alive-timeout", "1", "--read-timeout", "1", tmp_path=tmp_path)
    try:
        # Connects and sends nothing.
        with socket.create_connection(("127.0.0.1", port)) as idle:
            assert _closed_within(idle, 5) < 2
        # Trickles header lines, one every 0.2 s, never finishing: closed at the header deadline, not kept alive by each byte.
        with socket.create_connection(("127.0.0.1", port)) as trickle:
            start = time.monotonic()
            trickle.sendall(b"POST /cds-services/interactions-order-sign HTTP/1.1\r\nHost: x\r\n")
            closed = False
            for i in range(40):  # at most 8 s
                try:
                    trickle.sendall(f"X-Slow-{i}: 1\r\n".encode())
                except OSError:
                    closed = True
                    break
                time.sleep(0.2)
                trickle.settimeout(0.01)
                try:
                    if trickle.recv(65536) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
                    break
            assert closed and time.monotonic() - start < 2.5
        # Headers in time, then a body that trickles: 408 at the read timeout.
        with socket.create_connection(("127.0.0.1", port)) as slow_body:
            slow_body.sendall(b"POST /cds-services/interactions-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            slow_body.settimeout(5)
            answer = slow_body.recv(65536)
            assert answer.startswith(b"HTTP/1.1 408")
        # A keep-alive connection left idle after an answer is closed after --keep-alive-timeout.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/cds-services")
        assert conn.getresponse().read() and conn.sock is not None
        assert _closed_within(conn.sock, 5) < 2
        conn.close()
        # A client that is merely a little slow, well within the deadline, is answered.
        with socket.create_connection(("127.0.0.1", port)) as ok:
            for part in (b"GET /cds-services HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n", b"\r\n"):
                ok.sendall(part)
                time.sleep(0.1)
            ok.settimeout(5)
            assert ok.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
