"""Fetching from fhirServer, over real HTTP: only from allow-listed servers, never elsewhere, never slowly.

Every server is started here on 127.0.0.1 and stopped after: `ehr` is the allow-listed FHIR server and
`other` one on another port that a caller tries to reach; neither may see a request it should not.
"""

from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import FhirStub
from test_server import call, hook_body, med_request, start_server

pytest.importorskip("httpx")

SIGN = "/cds-services/interactions-order-sign"
NOT_ALLOWED = "missing required prefetch medications: not in the prefetch, and fhirServer is not a server this service is allowed to fetch from"
FAILED = "missing required prefetch medications: it could not be fetched from fhirServer"


def searchset(*resources, link=None):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    if link:
        bundle["link"] = [{"relation": "next", "url": link}]
    return bundle


@pytest.fixture(scope="module")
def fetching(tmp_path_factory):
    ehr, other = FhirStub(), FhirStub()
    for stub in (ehr, other):
        stub.routes["/fhir/MedicationStatement"] = (200, searchset())
        stub.routes["/fhir/Observation"] = (200, searchset())
    proc, port = start_server("--allow-fhir-server", ehr.url("/fhir"), "--fetch-timeout", "1", tmp_path=tmp_path_factory.mktemp("fetch"))
    yield SimpleNamespace(port=port, ehr=ehr, other=other, proc=proc)
    proc.terminate()
    proc.wait(timeout=10)
    log = proc.stderr.read().decode()
    ehr.close()
    other.close()
    assert "Traceback" not in log


def fetch_body(patient_id, fhir_server, drop=("patient", "medications", "statements", "egfr"), draft="baclofen 10 mg TID"):
    body = hook_body("order-sign", [med_request("new", draft, status="draft")], [], drop=drop)
    body["context"]["patientId"] = patient_id
    body["fhirServer"] = fhir_server
    token = "token-" + "".join(c for c in patient_id if c.isalnum())
    body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read", "subject": "cds"}
    return body


def serve_patient(ehr, patient_id, *meds):
    ehr.routes[f"/fhir/Patient/{patient_id}"] = (200, {"resourceType": "Patient", "id": patient_id, "birthDate": "1950-01-01"})
    ehr.routes[f"/fhir/MedicationRequest?patient={patient_id}&status=active"] = (200, searchset(*meds))


def test_fetches_the_missing_prefetch_from_an_allow_listed_server_with_the_token(fetching):
    serve_patient(fetching.ehr, "f1", med_request("srv", "lorazepam 1 mg"))
    status, data = call(fetching.port, "POST", SIGN, fetch_body("f1", fetching.ehr.url("/fhir")))
    assert status == 200
    assert [c["summary"] for c in data["cards"]] == ["Moderate: Additive CNS depression (baclofen, lorazepam)"]
    seen = [s for s in fetching.ehr.seen if "f1" in s[0]]
    assert ("/fhir/MedicationRequest?patient=f1&status=active", "Bearer token-f1") in seen
    assert ("/fhir/Patient/f1", "Bearer token-f1") in seen
    assert len(seen) == 4  # patient, medications, statements, eGFR: nothing else


def test_the_default_service_never_fetches(tmp_path, fhir_stub):
    proc, port = start_server(tmp_path=tmp_path)
    try:
        status, data = call(port, "POST", SIGN, fetch_body("d1", fhir_stub.url("/fhir")))
        assert (status, data["issue"][0]["diagnostics"]) == (412, NOT_ALLOWED)
        body = fetch_body("d2", fhir_stub.url("/fhir"), drop=("statements",))
        status, data = call(port, "POST", SIGN, body)  # with the prefetch, the call is answered from it alone
        assert status == 200 and [c["summary"] for c in data["cards"]] == []
        assert fhir_stub.seen == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("make_url", [
    lambda f: f.other.url("/fhir"),  # another port on the same host
    lambda f: "file:///etc/passwd",
    lambda f: "file:///etc/hosts#/fhir",
    lambda f: f"http://127.0.0.1:{f.ehr.port}@127.0.0.1:{f.other.port}/fhir",
    lambda f: f"http://127.0.0.1:{f.ehr.port}/fhir/../admin",
    lambda f: f"http://127.0.0.1:{f.ehr.port}/fhir/%2e%2e/admin",
    lambda f: f"http://127.0.0.1:{f.ehr.port}/fhirx",
    lambda f: f"http://localhost:{f.ehr.port}/fhir",
    lambda f: f"https://127.0.0.1:{f.ehr.port}/fhir",
    lambda f: f"gopher://127.0.0.1:{f.ehr.port}/fhir",
    lambda f: f"http://127.0.0.1:{f.ehr.port}\\@127.0.0.1:{f.other.port}/fhir",
    lambda f: f" http://127.0.0.1:{f.other.port}/fhir",
], ids=["other-port", "file", "file-fragment", "userinfo", "dot-segments", "encoded-dots", "prefix-trick", "localhost", "https-mismatch", "gopher",
        "backslash", "leading-space"])
def test_ssrf_attempts_reach_nothing_and_reveal_nothing(fetching, make_url):
    before = (len(fetching.ehr.seen), len(fetching.other.seen))
    status, data = call(fetching.port, "POST", SIGN, fetch_body("s1", make_url(fetching)))
    assert (status, data["issue"][0]["diagnostics"]) == (412, NOT_ALLOWED)
    assert (len(fetching.ehr.seen), len(fetching.other.seen)) == before


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(fetching, code):
    pid = f"redirect{code}"
    fetching.ehr.routes[f"/fhir/MedicationRequest?patient={pid}&status=active"] = (code, {}, {"Location": fetching.other.url(f"/steal?{pid}")})
    status, data = call(fetching.port, "POST", SIGN, fetch_body(pid, fetching.ehr.url("/fhir")))
    assert (status, data["issue"][0]["diagnostics"]) == (412, FAILED)
    assert not any(pid in path for path, _ in fetching.other.seen)
    assert all(auth in (None, f"Bearer token-{pid}") for path, auth in fetching.ehr.seen if pid in path)


def test_error_answers_reveal_no_content_or_network_details(fetching):
    pid = "leak1"
    fetching.ehr.routes[f"/fhir/MedicationRequest?patient={pid}&status=active"] = (500, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "fatal", "code": "exception", "diagnostics": "SECRET db error at 10.0.0.7:5432"}]})
    status, data = call(fetching.port, "POST", SIGN, fetch_body(pid, fetching.ehr.url("/fhir")))
    assert (status, data["issue"][0]["diagnostics"]) == (412, FAILED)
    # A FHIR-shaped answer from a server that is not allowed is never read, so never echoed either.
    fetching.other.routes["/fhir/MedicationRequest"] = (200, searchset(med_request("x", "<b>zuranolonx</b> from the other port")))
    status, data = call(fetching.port, "POST", SIGN, fetch_body("leak2", fetching.other.url("/fhir")))
    text = json.dumps(data)
    assert status == 412 and "zuranolonx" not in text and str(fetching.other.port) not in text


def test_a_failed_optional_fetch_is_a_note_not_a_412(fetching):
    pid = "opt1"
    fetching.ehr.routes[f"/fhir/MedicationRequest?patient={pid}&status=active"] = (200, searchset(med_request("lz", "lorazepam 1 mg")))
    # No Patient route: the stub answers 404 with an OperationOutcome.
    status, data = call(fetching.port, "POST", SIGN, fetch_body(pid, fetching.ehr.url("/fhir")))
    assert status == 200
    (card,) = data["cards"]
    assert card["summary"] == "Moderate: Additive CNS depression (baclofen, lorazepam)"
    assert "**Not assessed:** age: it could not be fetched from fhirServer" in card["detail"]


def test_the_patient_id_is_percent_encoded_in_fetch_urls(fetching):
    pid = "a/b?c&d=#e"
    encoded = "a%2Fb%3Fc%26d%3D%23e"
    fetching.ehr.routes[f"/fhir/MedicationRequest?patient={encoded}&status=active"] = (200, searchset(med_request("lz", "lorazepam 1 mg")))
    status, data = call(fetching.port, "POST", SIGN, fetch_body(pid, fetching.ehr.url("/fhir")))
    assert status == 200 and len(data["cards"]) == 1
    paths = {path for path, _ in fetching.ehr.seen if encoded in path}
    assert {f"/fhir/Patient/{encoded}", f"/fhir/MedicationRequest?patient={encoded}&status=active"} <= paths


def test_next_pages_are_followed_only_on_the_allowed_server(fetching):
    ehr, other = fetching.ehr, fetching.other
    ehr.routes["/fhir/MedicationRequest?patient=pg1&page=2"] = (200, searchset(med_request("lz", "lorazepam 1 mg")))
    follow = fetch_body("pg1", ehr.url("/fhir"), drop=("medications",))
    follow["prefetch"]["medications"] = searchset(link=ehr.url("/fhir/MedicationRequest?patient=pg1&page=2"))
    status, data = call(fetching.port, "POST", SIGN, follow)
    assert status == 200 and [c["summary"] for c in data["cards"]] == ["Moderate: Additive CNS depression (baclofen, lorazepam)"]
    assert ("/fhir/MedicationRequest?patient=pg1&page=2", "Bearer token-pg1") in ehr.seen

    for link in (other.url("/fhir/MedicationRequest?patient=pg2&page=2"), ehr.url("/fhir/Patient/pg2"), "file:///etc/passwd"):
        refused = fetch_body("pg2", ehr.url("/fhir"), drop=("medications",))
        refused["prefetch"]["medications"] = searchset(link=link)
        status, data = call(fetching.port, "POST", SIGN, refused)
        assert status == 200
        assert [c["summary"] for c in data["cards"]] == ["Interaction check incomplete: not everything could be checked"], link
        assert "prefetch medications: not all of its pages were received" in data["cards"][0]["detail"]
    assert not any("pg2" in path for path, _ in other.seen + [s for s in ehr.seen if "Patient/pg2" in s[0]])


def trickle(seconds):
    """A route that sends headers, then one byte of body every 0.1 s for `seconds`: a server that never finishes."""

    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the service hung up: what it should do

    return answer


def test_a_slow_server_is_cut_at_the_deadline_and_does_not_starve_other_calls(fetching):
    ehr = fetching.ehr
    for i in range(8):
        ehr.routes[f"/fhir/Patient/slow{i}"] = trickle(6)
        ehr.routes[f"/fhir/MedicationRequest?patient=slow{i}&status=active"] = (200, searchset(med_request("lz", "lorazepam 1 mg")))
    ehr.routes["/fhir/MedicationRequest?patient=slowreq&status=active"] = trickle(6)

    def timed(body):
        start = time.monotonic()
        status, data = call(fetching.port, "POST", SIGN, body)
        return time.monotonic() - start, status, data

    with ThreadPoolExecutor(max_workers=9) as pool:
        slow = [pool.submit(timed, fetch_body(f"slow{i}", ehr.url("/fhir"))) for i in range(8)]
        time.sleep(0.2)
        # A call that brings its prefetch is answered while eight fetches hang: it waits for no
        # fetch (a starved pool made it wait out all eight, 6 s each). The bounds leave room for
        # a loaded 2-core CI machine; a starved call would take more than 6 s.
        elapsed, status, _ = timed(hook_body("order-sign", [med_request("new", "baclofen", status="draft")], [med_request("o", "alcohol")]))
        assert status == 200 and elapsed < 2.5
        results = [f.result() for f in slow]
    for elapsed, status, data in results:
        assert status == 200 and elapsed < 4, elapsed  # --fetch-timeout 1: the age is dropped, not the call
        assert "**Not assessed:** age: it could not be fetched from fhirServer" in data["cards"][0]["detail"]
    elapsed, status, data = timed(fetch_body("slowreq", ehr.url("/fhir")))
    assert (status, data["issue"][0]["diagnostics"]) == (412, FAILED) and elapsed < 4


def test_a_bearer_token_that_could_break_the_header_is_refused(fetching):
    body = fetch_body("tok1", fetching.ehr.url("/fhir"))
    body["fhirAuthorization"]["access_token"] = "abc\r\nX-Injected: 1"
    status, data = call(fetching.port, "POST", SIGN, body)
    assert (status, data["issue"][0]["diagnostics"]) == (400, "fhirAuthorization.access_token is not a bearer token")
    assert not any("tok1" in path for path, _ in fetching.ehr.seen)


@pytest.mark.parametrize("url, message", [
    ("http://ehr.example.org/fhir", "plain http is allowed only to a loopback IP address such as 127.0.0.1; use https"),
    ("http://localhost:8080/fhir", "plain http is allowed only to a loopback IP address such as 127.0.0.1; use https"),
    ("file:///etc", "only https URLs are allowed (or http to a loopback IP address)"),
    ("https://user:pw@ehr.example.org/fhir", "user information in a URL is not allowed"),
    ("https://ehr.example.org/fhir?x=1", "a base URL with a query string is not allowed"),
])
def test_serve_refuses_an_allow_list_entry_it_would_not_fetch_from(cli_run, url, message):
    result = cli_run("serve", "--allow-fhir-server", url)
    assert result.exit_code == 2
    assert result.stderr == f"interactions: --allow-fhir-server {url}: {message}\n"


def test_serve_reads_the_allow_list_from_the_environment(cli_run, monkeypatch):
    import interactions.server

    seen = {}
    monkeypatch.setattr(interactions.server, "serve", lambda index, host, port, settings: seen.setdefault("settings", settings))
    result = cli_run("serve", env={"INTERACTIONS_ALLOW_FHIR_SERVERS": "https://a.example/fhir, https://b.example:8443/r4/ http://127.0.0.1:9/x"})
    assert result.exit_code == 0, result.stderr
    assert [o.base for o in seen["settings"].allowed_servers] == ["https://a.example/fhir", "https://b.example:8443/r4", "http://127.0.0.1:9/x"]
    assert "use --jwt-config to accept only trusted EHRs" in result.stderr


REPLAY = sorted((Path(__file__).parent / "cdshooks").glob("*.json"))


@pytest.mark.parametrize("path", REPLAY, ids=[p.stem for p in REPLAY])
def test_replayed_requests_give_the_same_cards_with_the_prefetch_given_or_fetched(fetching, path):
    from interactions import cdshooks

    case = json.loads(path.read_text(encoding="utf-8"))
    service = "/cds-services/" + case["service"]
    status, given = call(fetching.port, "POST", service, case["request"])
    assert status == 200 and [c["summary"] for c in given["cards"]] == case["expect"]

    request = copy.deepcopy(case["request"])
    prefetch = request.pop("prefetch")
    request["fhirServer"] = fetching.ehr.url(f"/fhir/{path.stem}")
    plan = cdshooks.prepare(case["service"], request)
    for key, value in prefetch.items():
        served = value if value is not None else {"resourceType": "Bundle", "type": "searchset", "total": 0}
        fetching.ehr.routes[f"/fhir/{path.stem}/{cdshooks.query(plan, key)}"] = (200, served)
    status, fetched = call(fetching.port, "POST", service, request)
    assert status == 200
    assert fetched == given  # the same cards, uuids included: the hookInstance is the same
    asked = [(p, auth) for p, auth in fetching.ehr.seen if p.startswith(f"/fhir/{path.stem}/")]
    assert len(asked) == 4
    token = (request.get("fhirAuthorization") or {}).get("access_token")
    assert {auth for _, auth in asked} == {f"Bearer {token}" if token else None}


def test_a_bad_token_matters_only_when_something_is_fetched(fetching):
    body = hook_body("order-sign", [med_request("new", "baclofen", status="draft")], [med_request("o", "alcohol")])
    body["fhirServer"] = fetching.ehr.url("/fhir")
    body["fhirAuthorization"] = {"access_token": "not a token", "token_type": "Bearer"}
    status, data = call(fetching.port, "POST", SIGN, body)
    assert status == 200 and [c["summary"] for c in data["cards"]] == ["Major: Alcohol with a CNS depressant (baclofen, alcohol)"]
