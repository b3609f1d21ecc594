"""The pharmacist's page rendered on the server (issue 17): exact pieces of the HTML, bad input, escaping, the JSON link.

The application is called in-process through httpx's ASGI transport; tests/test_browser.py drives it in Chromium.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import datetime, timezone
from urllib.parse import urlencode

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")
httpx = pytest.importorskip("httpx")

from interactions import formatters, web  # noqa: E402
from interactions.engine import check  # noqa: E402
from interactions.model import DISCLAIMER  # noqa: E402
from interactions.server import Settings, create_app  # noqa: E402

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)
DISCHARGE = "Baclof 10 mg tablet TID\nXanax 0.5 mg\nTylenol PM\nalcohol\nhydroxyzne 25 mg"
FORM = "application/x-www-form-urlencoded"


def esc(text: str) -> str:
    """Text as the autoescaping templates write it."""
    from markupsafe import escape

    return str(escape(text))


@pytest.fixture(scope="module")
def app(index):
    return create_app(index, Settings(now=lambda: NOW))


@pytest.fixture(scope="module")
def call(app):
    """Send one request to the app in-process; return the httpx response."""

    def send(method: str, path: str, app=app, **kwargs):
        async def go():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    return send


def post(call, **fields):
    return call("POST", "/", data=fields)


def findings(page: str) -> list:
    """(rule id, data-severity, badge word) of each finding element, in page order."""
    return re.findall(r'<article class="finding sev-(?:\w+)" data-severity="(\w+)" data-rule="([\w-]+)".*?<span class="badge sev-\w+">(\w+)</span>',
                      page, re.S)


def error_message(page: str) -> str:
    found = re.search(r'<p class="message">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def report_for(index, text, age=None, egfr=None, previous=""):
    parsed, request = web.read_request(web.Form(medications=text, age=age or "", egfr=egfr or "", previous=previous), None)
    return check(index, request, parsed.skipped, parsed.notes)


def test_the_blank_form_has_labelled_fields_and_loads_nothing_from_elsewhere(call):
    response = call("GET", "/")
    page = response.text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for field, tag in (("medications", "textarea"), ("previous", "textarea"), ("age", "input"), ("egfr", "input")):
        assert f'<label for="{field}">' in page
        assert re.search(rf'<{tag} id="{field}" name="{field}"', page), field
    assert '<form method="post" action="/"' in page and '<button type="submit">Check</button>' in page
    assert 'class="finding' not in page and 'class="error"' not in page
    assert "<script" not in page and " src=" not in page
    assert re.findall(r'<link [^>]*href="([^"]+)"', page) == ["/page.css"]
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp and "script-src" not in csp
    assert response.headers["cache-control"] == "no-store"
    css = call("GET", "/page.css")
    assert css.status_code == 200 and "@media print" in css.text and "url(" not in css.text and "@import" not in css.text


def test_a_discharge_list_shows_summary_first_then_findings_with_severity_words(call, index):
    response = post(call, medications=DISCHARGE, age="72", egfr="45")
    page = response.text
    assert response.status_code == 200
    assert findings(page) == [("major", "alcohol-cns-depressant", "MAJOR"), ("major", "baclofen-renal-impairment", "MAJOR"),
                              ("moderate", "additive-cns-depression", "MODERATE")]
    report = report_for(index, DISCHARGE, "72", "45")
    # The brief summary is the text report's, word for word, and comes before the first finding.
    summary = formatters.summary_lines(report)
    assert summary[0].startswith("MAJOR: Alcohol with a CNS depressant")
    positions = [page.index(esc(line)) for line in summary]
    assert positions == sorted(positions) and positions[-1] < page.index('class="finding')
    assert esc(formatters.status_line(report)) in page and "INCOMPLETE CHECK" in page
    assert "Patient: age 72; eGFR 45 mL/min/1.73 m²" in page
    for f in report.findings:  # risk and action exactly as the engine words them, sources by their short citation
        assert f'<dd class="risk">{esc(f.message)}</dd>' in page
        assert f'<dd class="action">{esc(f.management)}</dd>' in page
        for ref in f.references:
            assert esc(ref.label) in page
    # Drugs as typed and canonical.
    assert '<strong class="canonical">baclofen</strong> <span class="typed-as">(typed <q class="typed">Baclof 10 mg tablet TID</q>); oral, 30 mg/day' in page
    assert '<strong class="canonical">diphenhydramine</strong> <span class="typed-as">(typed <q class="typed">Tylenol PM</q>)' in page


def test_the_page_and_check_give_the_same_findings(call, cli_run, tmp_path):
    meds, previous = tmp_path / "meds.txt", tmp_path / "previous.txt"
    meds.write_text(DISCHARGE + "\noxycodone 5 mg q4h prn\n")
    previous.write_text("lorazepam 1 mg\nbaclofen 20 mg TID\n")
    cli = cli_run("check", "--input", str(meds), "--previous", str(previous), "--age", "72", "--egfr", "45", "--format", "json").json()
    fields = {"medications": meds.read_text(), "previous": previous.read_text(), "age": "72", "egfr": "45"}
    page = post(call, **fields).text
    assert [rule for _, rule, _ in findings(page)] == [f["id"] for f in cli["findings"]]
    assert [sev for sev, _, _ in findings(page)] == [f["severity"] for f in cli["findings"]]
    # The JSON endpoint is the CLI's JSON, byte for byte (the same request, the one contract).
    as_json = call("GET", "/check.json?" + urlencode(fields))
    assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == cli
    # Names given as arguments: the same findings.
    names = cli_run("check", *DISCHARGE.splitlines(), "--age", "72", "--egfr", "45", "--format", "json").json()
    assert [r for _, r, _ in findings(post(call, medications=DISCHARGE, age="72", egfr="45").text)] == [f["id"] for f in names["findings"]]


def test_the_json_link_and_the_bookmarkable_link_repeat_the_check(call):
    page = post(call, medications="baclofen\nalcohol", age="80").text
    link = html.unescape(re.search(r'<a href="(/check\.json\?[^"]+)">This result as JSON</a>', page).group(1))
    assert link == "/check.json?medications=baclofen%0D%0Aalcohol&age=80" or link == "/check.json?medications=baclofen%0Aalcohol&age=80"
    data = call("GET", link).json()
    assert data["patient"]["age"] == 80 and [f["id"] for f in data["findings"]] == [r for _, r, _ in findings(page)]
    again = html.unescape(re.search(r'<a href="(/\?[^"]+)">Link to this result</a>', page).group(1))
    assert findings(call("GET", again).text) == findings(page)


def test_a_list_too_long_for_a_link_offers_the_json_as_a_form(call):
    lines = "\n".join(f"baclofen 10 mg tablet three times a day, line {i}, {'x' * 40}" for i in range(150))
    page = post(call, medications=lines + "\nalcohol").text
    assert 'href="/check.json?' not in page
    form = re.search(r'<form method="post" action="/check.json" class="inline">(.*?)</form>', page, re.S).group(1)
    assert '<input type="hidden" name="medications" value="baclofen 10 mg' in form
    answer = call("POST", "/check.json", data={"medications": lines + "\nalcohol"})
    assert answer.status_code == 200 and answer.json()["findings"][0]["id"] == "alcohol-cns-depressant"


def test_unrecognised_names_are_shown_with_suggestions_never_applied(call, index):
    page = post(call, medications=DISCHARGE, age="72", egfr="45").text
    block = re.search(r'<section class="unresolved-block".*?</section>', page, re.S).group(0)
    items = [html.unescape(i) for i in re.findall(r'<li class="unresolved">(.*?)</li>', block, re.S)]
    assert items == [line.strip() for line in formatters.problem_lines(report_for(index, DISCHARGE, "72", "45"))]
    assert items == ['"hydroxyzne 25 mg" (line 5): not recognised. Did you mean: hydroxyzine (look-alike of hydralazine), hydroxyurea? (not applied)']
    assert not any("hydroxyzine" in article for article in re.findall(r'<article class="finding.*?</article>', page, re.S))
    assert page.index('class="unresolved-block"') < page.index('class="finding ')


def test_the_read_as_table_has_the_daily_doses_and_the_previous_list(call, index):
    page = post(call, medications=DISCHARGE, previous="baclofen 20 mg TID", age="72").text
    report = report_for(index, DISCHARGE, "72", previous="baclofen 20 mg TID")
    rows = re.findall(r'<tr class="status-(\w+)"><td>(.*?)</td><td class="typed">(.*?)</td><td>(.*?)</td><td>(\w+)</td></tr>', page)
    expected = [(m.resolution.status, m.given.ref, m.given.text, formatters.describe_medication(m), m.resolution.status)
                for m in report.medications + report.previous]
    assert [tuple(html.unescape(c) for c in row) for row in rows] == expected
    assert ("resolved", "line 1", "Baclof 10 mg tablet TID", "baclofen (oral; 30 mg/day)", "resolved") in expected
    assert "<caption>Current list</caption>" in page and "<caption>Previous list</caption>" in page


def test_scope_disclaimer_and_the_record_line(call, index):
    page = post(call, medications="baclofen\nalcohol").text
    report = report_for(index, "baclofen\nalcohol")
    assert f'<p class="scope-line">{esc(formatters.scope_lines(report)[0])}</p>' in page
    assert "Not checked: bleeding, serotonin syndrome, QT prolongation" in page
    for item in report.scope.checked:
        assert f"<li>{esc(item)}</li>" in page
    assert f'<p class="disclaimer">{DISCLAIMER}</p>' in page
    assert '<time datetime="2025-03-04T09:30:00+00:00">2025-03-04 09:30 UTC</time>' in page
    assert f"interactions {web.__version__} · rules {report.rules_digest[:12]}" in page


def test_an_all_clear_still_says_what_was_not_checked(call):
    page = post(call, medications="paracetamol 1 g QID").text
    assert 'class="finding' not in page
    assert "No CNS-depressant interactions found." in page and "Not checked: bleeding" in page


def test_intrathecal_baclofen_gets_its_route_specific_action(call, index):
    text = "baclofen intrathecal pump 200 mcg/day\nlorazepam 1 mg"
    page = post(call, medications=text).text
    (finding,) = report_for(index, text).findings
    assert not finding.management.startswith(("Oral:", "Intrathecal:")) and "pump team" in finding.management  # lorazepam's route splits nothing
    assert f'<dd class="action">{esc(finding.management)}</dd>' in page
    assert "intrathecal, 200 mcg/day" in page


def test_a_drug_stopped_abruptly_is_found_from_the_previous_list(call):
    page = post(call, medications="lorazepam 1 mg", previous="baclofen 20 mg TID\nlorazepam 1 mg").text
    assert findings(page) == [("major", "baclofen-discontinuation", "MAJOR")]
    assert "Baclofen stopped abruptly" in page and "<caption>Previous list</caption>" in page


def test_each_finding_has_a_drawing_of_its_paths(call, index):
    page = post(call, medications=DISCHARGE, age="72", egfr="45").text
    articles = re.findall(r'<article class="finding.*?</article>', page, re.S)
    report = report_for(index, DISCHARGE, "72", "45")
    assert len(articles) == len(report.findings) == 3
    for article, f in zip(articles, report.findings, strict=True):
        svg = re.search(r"<svg .*?</svg>", article, re.S).group(0)
        assert 'role="img"' in svg and esc(f"Path through the rules: {'; '.join(f.paths)}") in svg
        nodes = re.findall(r'<g class="node (\w+)">', svg)
        assert nodes.count("rule") == 1 and nodes.count("drug") == len(f.involved)
        assert svg.count('<path class="edge"') >= len(f.involved)
        assert f"<title>Rule: {esc(f.title)}</title>" in svg
    first = re.search(r"<svg .*?</svg>", articles[0], re.S).group(0)
    labels = set(re.findall(r"<title>(?:Drug|Class|Rule): (.*?)</title>", first))
    # "alcohol → alcohol + CNS depressant ← ..." is read as the class alcohol and the class CNS depressant.
    assert {"alcohol", "baclofen", "alprazolam", "diphenhydramine", "CNS depressant", "benzodiazepine", "Alcohol with a CNS depressant"} <= labels
    assert "alcohol + CNS depressant" not in labels


@pytest.mark.parametrize("path, chains", [
    ("baclofen", [["baclofen"]]),
    ("baclofen → centrally acting muscle relaxant", [["baclofen", "centrally acting muscle relaxant"]]),
    ("a → b → S ← c ← d", [["a", "b", "S"], ["d", "c", "S"]]),
    ("alcohol → alcohol + CNS depressant ← sedative-hypnotic ← alprazolam", [["alcohol", "alcohol"], ["alprazolam", "sedative-hypnotic", "CNS depressant"]]),
    ("x + y ← z ← w", [["x"], ["w", "z", "y"]]),
])
def test_paths_are_read_back_into_chains(path, chains):
    known = frozenset({"alcohol", "CNS depressant", "sedative-hypnotic", "alprazolam", "x", "y", "z", "w"})
    assert web.path_chains(path, known) == chains


def test_a_name_holding_a_plus_is_kept_whole_when_it_is_known():
    assert web.path_chains("a → p + q ← b", frozenset({"p + q", "a", "b"})) == [["a", "p + q"], ["b", "p + q"]]


def test_the_layout_keeps_boxes_apart_and_drugs_left():
    nodes, edges = web.finding_graph(_finding(["a → c1 → c2 → S ← d", "e → S ← d"]), frozenset())
    drawing = web.layout(nodes, edges)
    boxes = drawing["boxes"]
    drugs = [b for b in boxes if b["kind"] == "drug"]
    assert {b["label"] for b in drugs} == {"a", "d", "e"} and {b["x"] for b in drugs} == {0}
    (rule,) = [b for b in boxes if b["kind"] == "rule"]
    assert rule["x"] == max(b["x"] for b in boxes)
    for one in boxes:
        for other in boxes:
            if one is not other and one["x"] == other["x"]:
                assert one["y"] + one["h"] <= other["y"] or other["y"] + other["h"] <= one["y"]
    assert len(drawing["edges"]) == len(edges)


def _finding(paths):
    from interactions.model import Finding

    return Finding(id="r", kind="pair", severity="major", effect="e", title="The rule", message="m", mechanism="", management="",
                   drugs=(), inputs=(), involved=(), paths=tuple(paths), references=())


XSS = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', '"><svg onload=alert(1)>']


@pytest.mark.parametrize("payload", XSS)
def test_typed_text_is_never_reflected_as_markup(call, payload):
    pages = [
        post(call, medications=f"baclofen\nalcohol\n{payload}", previous=payload, age="72").text,  # a result
        post(call, medications="baclofen", age=payload).text,  # an error about the age, with the form filled in again
        post(call, medications="baclofen", egfr=payload, previous=payload).text,
        call("GET", "/?" + urlencode({"medications": payload})).text,
    ]
    for page in pages:
        assert payload not in page
        assert "<script>alert" not in page and "<img src=x" not in page and "<svg onload" not in page
        assert esc(payload) in page or esc(payload) in page
    assert error_message(pages[1]) == f"Age: expected a number, got {json.dumps(payload[:32])}"


@pytest.mark.parametrize("body, status, message", [
    ({"medications": ""}, 400, "the medication list is empty: enter the medications, one per line"),
    ({"medications": "  \n# a comment only\n"}, 400, "the medication list is empty: enter the medications, one per line"),
    ({"medications": "\n".join(["baclofen"] * 501)}, 400, "Medications:501: more than 500 medications in one list"),
    ({"medications": "baclofen", "age": "old"}, 400, 'Age: expected a number, got "old"'),
    ({"medications": "baclofen", "age": "200"}, 400, "Age: 200.0 is out of range (0 to 150)"),
    ({"medications": "baclofen", "egfr": "-3"}, 400, "eGFR: -3.0 is out of range (0 to 300)"),
    ({"medications": "b" * 1001}, 400, "Medications:1: 1001 characters, over the 1000-character limit for one medication"),
    ({"medications": "baclofen", "previous": "x\n" * 502}, 400, "Previous list:501: more than 500 medications in one list"),
])
def test_bad_input_gets_a_clear_message_on_the_page(call, body, status, message):
    response = post(call, **body)
    assert response.status_code == status
    assert error_message(response.text) == message
    assert "Traceback" not in response.text and 'role="alert"' in response.text
    assert 'class="finding' not in response.text


@pytest.mark.parametrize("raw, message", [
    (b"medications=baclofen%00alcohol", "Medications:1: binary input (NUL byte); expected UTF-8 text or JSON"),
    (b"medications=alcohol%0Abaclofen%FF%FE", "Medications:2: not valid UTF-8 (byte 0xff at offset 16)"),
    (b"medications=%89PNG%0D%0A%1A%0A%00%00%00%0DIHDR", "Medications:3: binary input (NUL byte); expected UTF-8 text or JSON"),
    (b"&".join(b"f%d=1" % i for i in range(40)), "the form sent more than 16 fields; use the form on this page"),
])
def test_pasted_binary_gets_a_clear_message(call, raw, message):
    response = call("POST", "/", content=raw, headers={"Content-Type": FORM})
    assert response.status_code == 400
    assert error_message(response.text) == message


def test_a_huge_body_is_refused_before_it_is_read(call):
    response = call("POST", "/", content=b"medications=" + b"a" * (1024 * 1024 + 1), headers={"Content-Type": FORM})
    assert response.status_code == 413
    assert error_message(response.text) == "the form is over 1048576 bytes (a list may have at most 500 medications of 1000 characters)"
    assert call("POST", "/check.json", content=b"a" * (1024 * 1024 + 1), headers={"Content-Type": FORM}).status_code == 413


def test_only_a_form_body_is_accepted(call):
    response = call("POST", "/", content=b'{"medications": ["baclofen"]}', headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert error_message(response.text) == "send the form as application/x-www-form-urlencoded, as the form on this page does"


def test_the_json_endpoint_answers_bad_input_with_an_operation_outcome(call):
    response = call("GET", "/check.json?medications=")
    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"] == "the medication list is empty: enter the medications, one per line"


def test_a_bug_is_a_500_page_without_details(call, monkeypatch, index):
    import interactions.engine

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail /home/x")

    monkeypatch.setattr(interactions.engine, "check", broken)
    response = post(call, medications="baclofen")
    assert response.status_code == 500
    assert "secret detail" not in response.text and "Traceback" not in response.text
    assert error_message(response.text) == "internal error: the list was not checked; the server log says where"


def test_the_page_can_be_turned_off(call, index):
    app = create_app(index, Settings(page=False))
    assert call("GET", "/", app=app).status_code == 404
    assert call("GET", "/check.json?medications=baclofen", app=app).status_code == 404
    assert call("GET", "/cds-services", app=app).status_code == 200


def test_the_cds_endpoints_keep_their_jwt_check_while_the_page_needs_none(call, index):
    pytest.importorskip("jwt")
    from test_clientjwt import config

    app = create_app(index, Settings(jwt=config()))
    assert call("POST", "/cds-services/interactions-order-select", app=app, json={}).status_code == 401
    assert call("POST", "/", app=app, data={"medications": "baclofen\nalcohol"}).status_code == 200


@pytest.mark.parametrize("host, flag, served", [("127.0.0.1", None, True), ("0.0.0.0", None, False), ("0.0.0.0", "--page", True),
                                                ("127.0.0.1", "--no-page", False)])
def test_serve_offers_the_page_on_loopback_only_unless_asked(cli_run, monkeypatch, host, flag, served):
    import interactions.server

    seen = {}
    monkeypatch.setattr(interactions.server, "serve", lambda index, h, p, settings: seen.update(settings=settings))
    result = cli_run("serve", "--host", host, *([flag] if flag else []))
    assert result.exit_code == 0, result.stderr
    assert seen["settings"].page is served
    assert ("web page on http://" in result.stderr) is served
    if host != "127.0.0.1" and served:
        assert "the web page at / has no authentication" in result.stderr


def test_a_result_renders_quickly_enough(call):
    """A loose bound (another suite may share the machine): a ten-drug list checked and rendered well under a second."""
    import time

    ten = "\n".join(["baclofen 10 mg TID", "alprazolam 0.5 mg", "oxycodone 5 mg q4h", "gabapentin 300 mg TID", "zolpidem 10 mg",
                     "quetiapine 25 mg", "amitriptyline 25 mg", "diphenhydramine 50 mg", "tramadol 50 mg", "alcohol"])
    post(call, medications=ten, age="80", egfr="40")
    start = time.perf_counter()
    for _ in range(5):
        assert len(findings(post(call, medications=ten, age="80", egfr="40").text)) >= 3
    assert (time.perf_counter() - start) / 5 < 1.0


def test_the_report_view_is_built_from_json_safe_parts(index):
    view = web.report_view(report_for(index, DISCHARGE, "72", "45"))
    assert view["summary"] == formatters.summary_lines(report_for(index, DISCHARGE, "72", "45"))
    assert json.dumps(view["findings"][0]["graph"])  # numbers and strings only


def test_a_field_sent_several_times_is_never_dropped(call):
    # ?medications=oxycodone&medications=lorazepam is how HTTP clients send a list: every value is read.
    data = call("GET", "/check.json?medications=oxycodone&medications=lorazepam").json()
    assert [m["input"] for m in data["medications"]] == ["oxycodone", "lorazepam"]
    assert [f["id"] for f in data["findings"]] == ["opioid-benzodiazepine"]
    page = call("POST", "/", content=b"medications=oxycodone&medications=lorazepam&previous=baclofen&previous=clonazepam",
                headers={"Content-Type": FORM}).text
    # Clonazepam replaced by lorazepam is a switch; baclofen is stopped.
    assert [rule for _, rule, _ in findings(page)] == ["opioid-benzodiazepine", "baclofen-discontinuation"]
    # One patient has one age: two different ones are refused, never one of them picked.
    refused = call("GET", "/check.json?medications=baclofen&age=40&age=80")
    assert refused.status_code == 400
    assert "'age' was sent 2 times with different values; send it once" in refused.text


def test_an_incomplete_list_without_findings_never_looks_like_a_calm_all_clear(call):
    nothing = post(call, medications="hydroxyzne 25 mg\nlorazepm 1 mg").text
    assert '<div class="summary" data-severity="incomplete">' in nothing
    assert '<p class="lead">Nothing was checked: no medication on the list was recognised.</p>' in nothing
    partial = post(call, medications="sertraline 50 mg\nxyzzyq").text
    assert '<div class="summary" data-severity="incomplete">' in partial
    clean = post(call, medications="sertraline 50 mg\nmetformin 500 mg").text
    assert '<div class="summary" data-severity="none">' in clean
