"""Medication lists as health records and pharmacy systems print them (issue 13).

Routes kept apart, implausible units reported, bracketed brands as labels, alcohol that is
not drunk, and one product never interacting with itself.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from interactions import check
from interactions.formatters import report_dict
from interactions.ruledir import builtin_rules_dir


def ids(report) -> dict:
    return {f.id: f.severity for f in report.findings}


# --- routes -------------------------------------------------------------------------------

def test_oral_and_intrathecal_baclofen_are_never_added_together(index):
    report = check(["baclofen 20 mg po tid", "baclofen intrathecal 400 mcg/day"], rules=index)
    (use,) = [i for f in report.findings for i in f.involved if i.drug == "baclofen"] or [None]
    data = report_dict(check(["baclofen 20 mg po tid", "baclofen intrathecal 400 mcg/day", "lorazepam"], rules=index))
    involved = next(i for f in data["findings"] for i in f["involved"] if i["drug"] == "baclofen")
    routes = {r["route"]: r["daily_dose"] for r in involved["routes"]}
    assert routes == {"oral": {"value": 60, "min": 60, "max": 60, "unit": "mg"},
                      "intrathecal": {"value": 400, "min": 400, "max": 400, "unit": "mcg"}}
    assert use is None  # no finding at all for this pair of lines: the same drug never interacts with itself


def test_the_oral_maximum_reads_only_the_oral_route(index):
    # 60 mg/day oral plus 400 mcg/day intrathecal is not 60.4 mg/day, and not above 80.
    assert "baclofen-oral-dose-above-maximum" not in ids(check(["baclofen 20 mg po tid", "Gablofen 400 mcg/day"], rules=index))
    assert ids(check(["baclofen 30 mg po tid", "Gablofen 400 mcg/day"], rules=index))["baclofen-oral-dose-above-maximum"] == "major"


def test_a_range_is_checked_at_the_most_the_order_allows(index):
    # 1-2 tablets of 10 mg four times daily allow up to 80 mg/day: the labelled maximum, not above it.
    assert ids(check(["baclofen 10 mg 1-2 tabs po qid"], rules=index)) == {}
    report = check(["baclofen 10 mg 1-3 tabs po qid"], rules=index)
    finding = next(f for f in report.findings if f.id == "baclofen-oral-dose-above-maximum")
    assert finding.reasons == ("major because up to 120 mg/day (oral) > 80 mg/day",)


def test_a_half_tablet_is_half_a_dose(index):
    # 1/2 of a 10 mg tablet three times daily is 15 mg/day: below the 20 mg/day threshold of the kidney note.
    report = check(["baclofen 10 mg tab 1/2 tab po tid"], rules=index, patient={"egfr": 40})
    finding = next(f for f in report.findings if f.id == "baclofen-renal-impairment")
    assert finding.involved[0].daily_dose.max == 15
    assert not any("20 mg/day" in n for n in finding.notes)


def test_an_epic_sig_gives_the_dose_a_pharmacist_computes(index):
    line = "baclofen 10 MG tablet  Take 2 tablets (20 mg total) by mouth 3 (three) times daily."
    assert check([line], rules=index).medications[0].resolution.strengths[0].daily.max == 60
    over = "baclofen 20 MG tablet  Take 1.5 tablets (30 mg total) by mouth 3 (three) times daily."
    assert ids(check([over], rules=index)) == {"baclofen-oral-dose-above-maximum": "major"}


@pytest.mark.parametrize("line, route", [("baclofen 20 mg intrathecal daily", "intrathecal"), ("baclofen 10 mcg po tid", "oral")])
def test_a_dose_in_the_wrong_unit_for_the_route_is_reported_not_converted(index, line, route):
    report = check([line], rules=index)
    res = report.medications[0].resolution
    assert res.strengths[0].daily is None
    assert res.dose_note == "implausible unit for the route; daily dose not used"
    expected = "mcg" if route == "intrathecal" else "mg"
    assert any(re.fullmatch(rf"baclofen \({route}\): dose written as .*, but {route} baclofen is dosed in {expected}; the dose was not used: "
                            r"check the order", c) for c in report.context_needed), report.context_needed
    data = report_dict(report)
    assert data["medications"][0]["daily_dose"] is None
    # The dose rules could not be checked: the line is partial and the run incomplete (exit 3),
    # never "check complete" over a possible thousand-fold error.
    assert res.status == "partial" and not report.complete and data["summary"]["complete"] is False
    assert res.note == f"dose {'20 mg' if route == 'intrathecal' else '10 mcg'} not used (baclofen: {route} doses are in {expected}): check the order"


def test_the_wrong_unit_makes_the_cli_exit_3_and_says_why(cli_run):
    result = cli_run("check", "baclofen 20 mg intrathecal", "--egfr", "90", "--no-color")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0].endswith('INCOMPLETE CHECK: 1 of 1 medication(s) not fully recognised: "baclofen 20 mg intrathecal"')
    assert "Not recognised, or only in part: check these by hand:" in lines
    assert '  "baclofen 20 mg intrathecal" (argument 1): checked as baclofen, dose 20 mg not used (baclofen: intrathecal doses are in mcg): check the order' in lines


def test_the_status_line_counts_the_two_lists_apart(cli_run, tmp_path):
    previous = tmp_path / "previous.txt"
    previous.write_text("lorazepm 1 mg\nbaclofen 10 mg\n")
    first = cli_run("check", "baclofen", "hydroxyzne", "sertraline", "--previous", str(previous), "--no-color").stdout.splitlines()[0]
    assert first.endswith('INCOMPLETE CHECK: 1 of 3 medication(s) and 1 of 2 on the previous list not fully recognised: "hydroxyzne", "lorazepm 1 mg"')


def test_daily_dose_in_json_is_a_range_with_its_route(index):
    data = report_dict(check(["oxycodone 5 mg 1-2 tabs po q4-6h prn pain", "gabapentin 300 mg 1-2 caps tid"], rules=index))
    doses = [m["daily_dose"] for m in data["medications"]]
    assert doses == [{"min": None, "max": 60, "unit": "mg", "route": "oral"}, {"min": 900, "max": 1800, "unit": "mg", "route": "oral"}]


# --- products ----------------------------------------------------------------------------------

def test_a_bracketed_brand_adds_no_ingredient_and_unknown_words_in_it_do_not_make_the_line_partial(index):
    report = check(["diphenhydramine HCl 25 MG Oral Capsule [Unisom SleepGels Xtra Foo]"], rules=index)
    res = report.medications[0].resolution
    assert (res.status, res.drugs) == ("resolved", ("diphenhydramine",))
    assert res.note == "[Unisom SleepGels Xtra Foo] read as a brand label only"
    assert report.complete and report.findings == ()


def test_every_cdc_product_resolves_to_exactly_the_ingredients_its_display_lists(index):
    """RxNorm writes a combination as 'A 5 MG / B 325 MG Oral Tablet [Brand]': each component names one
    ingredient. Resolved alone, each gives exactly one drug, and the whole string gives their union: the
    bracketed brand adds nothing, and the code gives the same drugs as the display."""
    path = Path(builtin_rules_dir()) / "codes" / "rxnorm-products-cdc.tsv"
    rows = list(csv.DictReader((row for row in path.read_text(encoding="utf-8").splitlines() if not row.startswith("#")), delimiter="\t"))
    assert len(rows) == 880
    for row in rows:
        display = row["display"]
        inside = re.sub(r"\[[^\]]*\]", "", display)
        expected = set()
        for component in re.split(r"\s/\s|\}\s*|\{", inside):
            if not re.search(r"\d\s*(?:MG|MCG)", component):
                continue  # a pack's own words ("Pack"), not an ingredient
            alone = index.resolve(component)
            assert len(alone.drugs) == 1, (display, component, alone.drugs)
            expected.update(alone.drugs)
        whole = index.resolve(display)
        assert (whole.status, set(whole.drugs)) == ("resolved", expected), display
        assert set(index.resolve(f"rxcui:{row['rxcui']}").drugs) == expected, display


def test_ingredients_of_one_product_never_pair_with_each_other(index):
    assert ids(check(["NyQuil"], rules=index)) == {}
    assert ids(check(["Phenergan with Codeine"], rules=index)) == {}
    # ... but still count towards the burden and pair with every other line.
    report = check(["NyQuil", "zolpidem 10 mg qhs"], rules=index)
    assert set(next(f for f in report.findings if f.id == "additive-cns-depression").drugs) == {"dextromethorphan", "doxylamine", "zolpidem"}


def test_medicines_written_on_one_line_with_a_separator_still_pair(index):
    assert ids(check(["gabapentin 300 mg TID for neuropathy; Norco 5/325 q6h prn"], rules=index)) == {"opioid-gabapentinoid": "major"}


# --- alcohol -----------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "alcohol prep pads", "Alcohol Prep Pad 70 %", "alcohol swabs", "isopropyl alcohol 70% topical", "hand sanitizer",
    "ethyl alcohol 62% gel topically", "alcohol 70 % topical solution", "denies alcohol", "Alcohol: none", "EtOH - denies",
    "no alcohol", "alcohol-free cough syrup",
])
def test_alcohol_that_is_not_drunk_gives_no_drinking_finding(index, line):
    report = check(["baclofen 10 mg po tid", line], rules=index)
    assert "alcohol-cns-depressant" not in ids(report), line
    assert all("ethanol" not in f.drugs for f in report.findings), line


@pytest.mark.parametrize("line", ["alcohol", "wine 2 glasses nightly", "beer", "vodka", "EtOH", "whiskey on weekends", "3 beers a day"])
def test_drinks_as_people_write_them_are_alcohol(index, line):
    report = check(["baclofen 10 mg po tid", line], rules=index)
    assert ids(report).get("alcohol-cns-depressant") == "major", line
    assert report.complete, report.medications[1].resolution.unrecognized


def test_a_negated_medicine_is_still_checked(index):
    # A negation is only trusted for alcohol: "NOT taking: alprazolam" is still checked, and the line is partial.
    report = check(["NOT taking: alprazolam", "oxycodone"], rules=index)
    assert ids(report) == {"opioid-benzodiazepine": "major"}
    assert not report.complete


# --- found by review: no false negatives from grouping, schedules or negations ---------------------

@pytest.mark.parametrize("line", ["oxycodone alprazolam", "oxycodone/alprazolam", "Xanax/Norco", "Xanax Norco", "hydrocodone-lorazepam"])
def test_two_names_that_are_no_known_product_still_pair(index, line):
    assert ids(check([line], rules=index)).get("opioid-benzodiazepine") == "major", line


@pytest.mark.parametrize("line", ["promethazine-codeine 6.25-10 mg/5 mL 5 mL q4h prn", "Phenergan with Codeine", "NyQuil",
                                  "acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet"])
def test_a_known_product_is_one_product(index, line):
    assert check([line], rules=index).findings == (), line


@pytest.mark.parametrize("line, daily", [
    ("baclofen 50 mg po qam and qpm", 100), ("baclofen 20 mg every morning and every evening", 40),
    ("baclofen 20 mg with meals and at bedtime", 80), ("baclofen 20 mg ac and hs", 80), ("baclofen 20 mg five times a day", 100),
    ("baclofen 20 mg at 8am, 12pm, 4pm, 8pm and bedtime", 100), ("baclofen 10 mg daily at bedtime", 10),
])
def test_administrations_joined_by_and_add_up(index, line, daily):
    assert check([line], rules=index).medications[0].resolution.strengths[0].daily.max == daily


@pytest.mark.parametrize("lines", [["denies tobacco, reports alcohol 2 drinks/day", "lorazepam"], ["never smoker, drinks 3 beers nightly", "lorazepam"]])
def test_a_negation_never_swallows_what_follows_it(index, lines):
    assert ids(check(lines, rules=index)).get("alcohol-cns-depressant") == "major"


@pytest.mark.parametrize("line", ["Alcohol use: 0 standard drinks", "Alcohol use: Not Currently"])
def test_social_history_saying_no_alcohol_is_not_drinking(index, line):
    assert "alcohol-cns-depressant" not in ids(check([line, "lorazepam"], rules=index))


def test_a_count_gives_its_form_route(index):
    res = check(["oxycodone 5 mg 1-2 tabs q4-6h prn pain"], rules=index).medications[0].resolution
    assert (res.route, res.route_source) == ("oral", "form")


def test_json_output_is_utf8_whatever_the_console(tmp_path):
    import subprocess
    import sys

    env = {**__import__("os").environ, "PYTHONIOENCODING": "cp1252"}
    result = subprocess.run([sys.executable, "-m", "interactions", "check", "Xanax 0.5 mg ½ tab", "Ambien 5 mg — qhs", "--format", "json"],
                            capture_output=True, env=env)
    data = json.loads(result.stdout.decode("utf-8"))
    assert [m["input"] for m in data["medications"]] == ["Xanax 0.5 mg ½ tab", "Ambien 5 mg — qhs"]
    assert any("→" in p for f in data["findings"] for p in f["paths"])


@pytest.mark.parametrize("line", ["ethyl alcohol 62% gel 30 g tube", "hand sanitizer 30 g tube"])
def test_a_tube_of_gel_is_a_package_never_a_feeding_tube(index, line):
    # "30 g tube" once read as "30 g" + G-tube (oral): alcohol gel counted as drinking.
    report = check([line, "lorazepam 1 mg tab bid"], rules=index)
    assert report.medications[0].resolution.route != "oral"
    assert "alcohol-cns-depressant" not in {f.id for f in report.findings}
