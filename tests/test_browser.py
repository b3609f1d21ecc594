"""The pharmacist's page in a real browser: headless Chromium (Debian's package) driven by Playwright.

Skipped when Chromium or Playwright is missing, unless INTERACTIONS_REQUIRE_BROWSER=1 (set by .ci/run): then it
fails, so that CI never passes without having run it. A failing test leaves a screenshot of the page in
test-artifacts/ (or $INTERACTIONS_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("INTERACTIONS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("INTERACTIONS_TEST_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")
DISCHARGE = ["Baclof 10 mg tablet TID", "Xanax 0.5 mg", "Tylenol PM", "alcohol", "hydroxyzne 25 mg"]


def _missing() -> str | None:
    """Say what is missing to run a browser, or None."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install '.[test]')"
    for module in ("starlette", "uvicorn", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            return f"the server extra is not installed ({module} missing)"
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium, or a skip (a failure when INTERACTIONS_REQUIRE_BROWSER=1) saying what is missing."""
    missing = _missing()
    if missing:
        if os.environ.get("INTERACTIONS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (INTERACTIONS_REQUIRE_BROWSER=1) but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def base_url(browser, tmp_path_factory):
    from test_server import start_server

    proc, port = start_server(tmp_path=tmp_path_factory.mktemp("web"))
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture()
def page(browser, base_url, request):
    """A fresh page on the server's form; on failure a full-page screenshot is saved to ARTIFACTS."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=True)
    tab = context.new_page()
    tab.set_default_timeout(15000)
    dialogs: list = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.dialogs = dialogs
    tab.goto(base_url + "/")
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def fill(page, medications, age="", egfr="", previous=()):
    page.fill("#medications", "\n".join(medications))
    page.fill("#age", age)
    page.fill("#egfr", egfr)
    page.fill("#previous", "\n".join(previous))
    page.click("button[type=submit]")


def test_a_discharge_list_shows_findings_graphs_and_unrecognised_names(page):
    fill(page, DISCHARGE, age="72", egfr="45")
    findings = page.locator("article.finding")
    assert findings.count() == 3
    assert [findings.nth(i).get_attribute("data-severity") for i in range(3)] == ["major", "major", "moderate"]
    assert [findings.nth(i).locator(".badge").first.inner_text() for i in range(3)] == ["MAJOR", "MAJOR", "MODERATE"]
    first = findings.first
    assert "Alcohol with a CNS depressant" in first.locator("h3").inner_text()
    assert "Baclof 10 mg tablet TID" in first.inner_text() and "Advise the patient to avoid alcoholic drinks" in first.locator(".action").inner_text()
    # The drawing: visible, with one box per drug and the rule last.
    svg = first.locator("svg")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert first.locator("svg g.node.drug").count() == 4 and first.locator("svg g.node.rule").count() == 1
    assert first.locator("svg path.edge").count() >= 4
    # The summary comes first, and the misspelt name is reported with its suggestion, not applied.
    assert page.locator(".summary .lead").inner_text().startswith("MAJOR: Alcohol with a CNS depressant")
    unresolved = page.locator(".unresolved")
    assert unresolved.count() == 1
    assert "hydroxyzne 25 mg" in unresolved.inner_text() and "Did you mean: hydroxyzine" in unresolved.inner_text()
    assert "hydroxyzine" not in " ".join(findings.all_inner_texts())
    assert page.locator("tr.status-unresolved td.typed").inner_text() == "hydroxyzne 25 mg"
    assert "Not checked: bleeding" in page.locator(".scope").inner_text()


def test_the_form_works_from_the_keyboard_alone(page):
    page.focus("#medications")
    page.keyboard.type("baclofen 10 mg TID")
    page.keyboard.press("Enter")
    page.keyboard.type("lorazepam 1 mg")
    for field, text in (("age", "81"), ("egfr", "38")):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == field
        page.keyboard.type(text)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "previous"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Check"
    page.keyboard.press("Enter")
    page.wait_for_selector("article.finding")
    severities = page.eval_on_selector_all("article.finding", "els => els.map(e => e.dataset.severity)")
    assert severities[0] == "major" and "Patient: age 81; eGFR 38" in page.locator(".patient").inner_text()


def test_typed_markup_stays_text_and_runs_nothing(page):
    payloads = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>"]
    fill(page, ["baclofen", "alcohol", *payloads], age="72", previous=payloads)
    assert page.locator("article.finding").count() >= 1
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    assert payloads[0] in page.locator(".unresolved").first.inner_text()
    fill(page, ["baclofen"], age="<img src=x onerror=alert(3)>")
    assert 'Age: expected a number, got "<img src=x onerror=alert(3)>"' in page.locator(".error").inner_text()
    assert page.locator("img").count() == 0
    assert page.dialogs == []


def test_bad_input_gets_a_message_not_a_traceback(page):
    fill(page, [])
    assert page.locator(".error .message").inner_text() == "the medication list is empty: enter the medications, one per line"
    fill(page, ["baclofen"] * 501)
    assert page.locator(".error .message").inner_text() == "Medications:501: more than 500 medications in one list"
    assert page.locator("#medications").input_value().count("\n") == 500  # the list is given back to correct


def test_the_json_link_gives_the_same_findings(page, base_url):
    fill(page, ["baclofen", "alcohol"], age="80")
    rules = page.eval_on_selector_all("article.finding", "els => els.map(e => e.dataset.rule)")
    with page.expect_navigation():
        page.click("text=This result as JSON")
    data = page.evaluate("JSON.parse(document.body.innerText)")
    assert [f["id"] for f in data["findings"]] == rules and data["patient"]["age"] == 80


def test_the_page_prints_as_a_record(page, tmp_path):
    fill(page, DISCHARGE, age="72", egfr="45")
    page.emulate_media(media="print")
    assert page.locator("form.check-form").is_hidden() and page.locator(".links").is_hidden()
    assert re.match(r"Checked \d{4}-\d\d-\d\d \d\d:\d\d", page.locator("header .record").inner_text())
    assert page.locator("article.finding").count() == 3 and page.locator("article.finding svg").first.is_visible()
    pdf = tmp_path / "record.pdf"
    page.pdf(path=str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10000


def test_it_works_without_javascript(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    try:
        tab = context.new_page()
        tab.goto(base_url + "/")
        tab.fill("#medications", "baclofen\nalcohol")
        tab.click("button[type=submit]")
        assert tab.locator("article.finding").first.get_attribute("data-severity") == "major"
    finally:
        context.close()
