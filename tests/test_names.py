"""The name resolver: messy real-world strings, whole-word matching, suggestions, look-alikes, codes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from interactions.names import resolve
from interactions.ruledir import builtin_rules_dir

# (string as written, expected drug ids)
MESSY = [
    ("Baclof 10 mg tablet", ["baclofen"]),
    ("baclofen 10mg PO TID", ["baclofen"]),
    ("BACLOFEN 20 MG TABLET", ["baclofen"]),
    ("Lioresal 10 mg", ["baclofen"]),
    ("Ozobax DS 10 mg/5 mL oral solution", ["baclofen"]),
    ("Fleqsuvy 5 mg/mL suspension", ["baclofen"]),
    ("Lyvispah 10 mg granules", ["baclofen"]),
    ("Gablofen 2000 mcg/mL intrathecal", ["baclofen"]),
    ("baclofen pump 400 mcg/day", ["baclofen"]),
    ("baclofène", ["baclofen"]),
    ("OxyCODONE (Immediate Release) 5 mg PO Q4H PRN", ["oxycodone"]),
    ("oxycodone HCl 10 mg ER tab q12h", ["oxycodone"]),
    ("OxyContin 20 mg", ["oxycodone"]),
    ("Roxicodone 15mg", ["oxycodone"]),
    ("Percocet 5/325", ["acetaminophen", "oxycodone"]),
    ("Percocet 10-325 mg 1 tab q6h prn pain", ["acetaminophen", "oxycodone"]),
    ("Norco 10-325", ["acetaminophen", "hydrocodone"]),
    ("Vicodin", ["acetaminophen", "hydrocodone"]),
    ("hydrocodone/APAP 5-325", ["acetaminophen", "hydrocodone"]),
    ("hydrocodone-acetaminophen 7.5-325 mg", ["acetaminophen", "hydrocodone"]),
    ("hydrocodone bitartrate 10 MG / acetaminophen 325 MG Oral Tablet", ["acetaminophen", "hydrocodone"]),
    ("Tylenol #3", ["acetaminophen", "codeine"]),
    ("Tylenol No. 3", ["acetaminophen", "codeine"]),
    ("Tylenol with Codeine", ["acetaminophen", "codeine"]),
    ("acetaminophen-codeine 300-30 mg", ["acetaminophen", "codeine"]),
    ("Tylenol PM", ["acetaminophen", "diphenhydramine"]),
    ("Tylenol 500 mg", ["acetaminophen"]),
    ("Tylenol Extra Strength", ["acetaminophen"]),
    ("Advil PM", ["diphenhydramine", "ibuprofen"]),
    ("ZzzQuil", ["diphenhydramine"]),
    ("Benadryl 25 mg at bedtime", ["diphenhydramine"]),
    ("diphenhydrAMINE 50 mg QHS PRN sleep", ["diphenhydramine"]),
    ("Unisom SleepTabs", ["doxylamine"]),
    ("Fioricet", ["acetaminophen", "butalbital", "caffeine"]),
    ("Soma Compound", ["aspirin", "carisoprodol"]),
    ("Soma 350 mg", ["carisoprodol"]),
    ("Suboxone 8-2 mg film SL", ["buprenorphine", "naloxone"]),
    ("buprenorphine/naloxone 8 mg/2 mg SL film", ["buprenorphine", "naloxone"]),
    ("Butrans 10 mcg/hr patch", ["buprenorphine"]),
    ("fentaNYL 25 mcg/hr patch q72h", ["fentanyl"]),
    ("Duragesic 50 mcg/hr", ["fentanyl"]),
    ("Ultram 50 mg", ["tramadol"]),
    ("traMADol 50 mg q6h prn", ["tramadol"]),
    ("24 HR tramadol hydrochloride 100 MG Extended Release Oral Capsule [ConZip]", ["tramadol"]),
    ("RX *oxycodone [Oxecta] 5 mg", ["oxycodone"]),
    ("morphine sulfate ER 15 mg q12h", ["morphine"]),
    ("MS Contin 30 mg", ["morphine"]),
    ("Dilaudid 2 mg", ["hydromorphone"]),
    ("methadone 10 mg daily", ["methadone"]),
    ("Nucynta 50 mg", ["tapentadol"]),
    ("Xanax", ["alprazolam"]),
    ("Xanax XR 1 mg", ["alprazolam"]),
    ("ALPRAZolam 0.5MG", ["alprazolam"]),
    ("alprazolam 0.25 MG Oral Tablet [Xanax]", ["alprazolam"]),
    ("Ativan 1 mg", ["lorazepam"]),
    ("LORazepam 0.5 mg BID prn anxiety", ["lorazepam"]),
    ("Klonopin 0.5 mg", ["clonazepam"]),
    ("clonazePAM 1 mg HS", ["clonazepam"]),
    ("Valium 5 mg", ["diazepam"]),
    ("diazepam 10 MG Rectal Suppository", ["diazepam"]),
    ("Restoril 15 mg", ["temazepam"]),
    ("Ambien 10 mg qhs", ["zolpidem"]),
    ("zolpidem ER 6.25 mg", ["zolpidem"]),
    ("Lunesta 2 mg", ["eszopiclone"]),
    ("Belsomra 10 mg", ["suvorexant"]),
    ("Xyrem", ["sodium-oxybate"]),
    ("sodium oxybate 4.5 g nightly", ["sodium-oxybate"]),
    ("gabapentin 300 mg TID", ["gabapentin"]),
    ("Neurontin 600 mg", ["gabapentin"]),
    ("Gralise 600 mg", ["gabapentin"]),
    ("Lyrica 75 mg BID", ["pregabalin"]),
    ("pregabalin ER 165 mg", ["pregabalin"]),
    ("hydrOXYzine HCl 25 mg", ["hydroxyzine"]),
    ("Vistaril 25 mg", ["hydroxyzine"]),
    ("promethazine 25 mg", ["promethazine"]),
    ("Phenergan", ["promethazine"]),
    ("meclizine 25 mg", ["meclizine"]),
    ("traZODone 50 mg QHS", ["trazodone"]),
    ("Desyrel 100 mg", ["trazodone"]),
    ("mirtazapine 15 mg", ["mirtazapine"]),
    ("Remeron SolTab 15 mg", ["mirtazapine"]),
    ("amitriptyline 25 mg hs", ["amitriptyline"]),
    ("Elavil 10 mg", ["amitriptyline"]),
    ("nortriptyline 25 mg", ["nortriptyline"]),
    ("Pamelor", ["nortriptyline"]),
    ("doxepin 3 mg", ["doxepin"]),
    ("sertraline 50 mg daily", ["sertraline"]),
    ("Zoloft", ["sertraline"]),
    ("Lexapro 10 mg", ["escitalopram"]),
    ("Celexa 20 mg", ["citalopram"]),
    ("Cymbalta 60 mg", ["duloxetine"]),
    ("Effexor XR 75 mg", ["venlafaxine"]),
    ("Wellbutrin XL 150 mg", ["bupropion"]),
    ("SEROquel 25 mg qhs", ["quetiapine"]),
    ("QUEtiapine 50 mg", ["quetiapine"]),
    ("Zyprexa 5 mg", ["olanzapine"]),
    ("Risperdal 1 mg", ["risperidone"]),
    ("Haldol 5 mg IM", ["haloperidol"]),
    ("Abilify 10 mg", ["aripiprazole"]),
    ("Flexeril 10 mg TID prn", ["cyclobenzaprine"]),
    ("cyclobenzaprine 5 mg", ["cyclobenzaprine"]),
    ("tiZANidine 4 mg", ["tizanidine"]),
    ("Zanaflex 4 mg", ["tizanidine"]),
    ("Robaxin 750 mg", ["methocarbamol"]),
    ("Skelaxin 800 mg", ["metaxalone"]),
    ("cloNIDine 0.1 mg BID", ["clonidine"]),
    ("Catapres", ["clonidine"]),
    ("carbidopa-levodopa 25-100", ["carbidopa", "levodopa"]),
    ("Sinemet 25/100 TID", ["carbidopa", "levodopa"]),
    ("lisinopril 10 mg daily", ["lisinopril"]),
    ("Zestril 20 mg", ["lisinopril"]),
    ("metoprolol succinate ER 50 mg", ["metoprolol"]),
    ("Toprol XL 25 mg", ["metoprolol"]),
    ("amLODIPine 5 mg", ["amlodipine"]),
    ("HCTZ 25 mg", ["hydrochlorothiazide"]),
    ("Lasix 40 mg", ["furosemide"]),
    ("hydrALAZINE 25 mg TID", ["hydralazine"]),
    ("metformin 500 mg BID with meals", ["metformin"]),
    ("Glucophage XR 500 mg", ["metformin"]),
    ("atorvastatin 40 mg", ["atorvastatin"]),
    ("Lipitor", ["atorvastatin"]),
    ("levothyroxine 50 mcg daily", ["levothyroxine"]),
    ("Synthroid 75 mcg", ["levothyroxine"]),
    ("omeprazole 20 mg", ["omeprazole"]),
    ("diclofenac 75 mg", ["diclofenac"]),
    ("Voltaren gel", ["diclofenac"]),
    ("Eliquis 5 mg BID", ["apixaban"]),
    ("warfarin 5 mg", ["warfarin"]),
    ("Claritin 10 mg", ["loratadine"]),
    ("loratadine", ["loratadine"]),
    ("alcohol", ["ethanol"]),
    ("EtOH", ["ethanol"]),
    ("beer", ["ethanol"]),
    ("wine", ["ethanol"]),
    ("ethanol", ["ethanol"]),
    ("kava", ["kava"]),
    ("valerian root", ["valerian"]),
    ("rxcui:1292", ["baclofen"]),
    ("RxCUI 141927", ["alprazolam"]),
]


@pytest.mark.parametrize("text, drugs", MESSY, ids=[m[0] for m in MESSY])
def test_messy_strings_resolve(index, text, drugs):
    res = resolve(index.table, text)
    assert res.status == "resolved", (res.unrecognized, res.suggestions)
    assert sorted(res.drugs) == sorted(drugs)


def test_the_table_is_large_enough():
    assert len(MESSY) >= 100


@pytest.mark.parametrize(
    "text, wrong",
    [
        ("diclofenac", "baclofen"),
        ("baclofen", "diclofenac"),
        ("hydralazine", "hydroxyzine"),
        ("hydroxyzine", "hydralazine"),
        ("clonidine", "clonazepam"),
        ("Klonopin", "clonidine"),
        ("tramadol", "trazodone"),
        ("trazodone", "tramadol"),
        ("Celebrex", "citalopram"),
        ("Celexa", "celecoxib"),
        ("Zyrtec", "olanzapine"),
        ("Zyprexa", "cetirizine"),
        ("tizanidine", "tiagabine"),
    ],
)
def test_lookalikes_never_resolve_to_each_other(index, text, wrong):
    res = resolve(index.table, text)
    assert res.status == "resolved"
    assert wrong not in res.drugs


def test_whole_words_only(index):
    assert resolve(index.table, "diclofenac sodium 75 mg").drugs == ("diclofenac",)
    # "lorazepam" is not inside "clorazepate", nor the reverse
    assert resolve(index.table, "clorazepate 7.5 mg").drugs == ("clorazepate",)


def test_misspelling_is_suggested_not_applied(index):
    res = resolve(index.table, "baclofn")
    assert res.status == "unresolved"
    assert res.drugs == ()
    assert [s.name for s in res.suggestions] == ["baclofen"]


def test_lookalike_suggestion_is_flagged(index):
    res = resolve(index.table, "hydralazene")
    assert res.status == "unresolved"
    flagged = {s.name: s.lookalike_of for s in res.suggestions}
    assert flagged.get("hydralazine") == ("hydroxyzine",)


def test_suggestions_need_shared_first_letters(index):
    res = resolve(index.table, "xaclofen")
    assert all(s.name.startswith("xa") for s in res.suggestions)


def test_unknown_word_next_to_a_drug_is_partial(index):
    res = resolve(index.table, "baclofen and zuranolonx")
    assert res.status == "partial"
    assert res.drugs == ("baclofen",)
    assert res.unrecognized == ("zuranolonx",)


def test_brand_family_variant_is_not_silently_narrowed(index):
    res = resolve(index.table, "Tylenol Cold Multi-Symptom Nighttime Liquid")
    assert res.status in ("partial", "resolved")
    if res.status == "resolved":
        assert len(res.drugs) > 1


def test_unknown_code_is_unresolved(index):
    res = resolve(index.table, "rxcui:999999999")
    assert res.status == "unresolved"
    assert res.via == "code"


@pytest.mark.parametrize(
    "text, route, source",
    [
        ("baclofen 10 mg tablet", "oral", "form"),
        ("baclofen 10 mg PO", "oral", "stated"),
        ("baclofen IT", "intrathecal", "stated"),
        ("baclofen intrathecal 400 mcg/day", "intrathecal", "product"),
        ("baclofen 50 mcg IT bolus", "intrathecal", "stated"),
        ("baclofen pump", "intrathecal", "product"),
        ("Gablofen", "intrathecal", "product"),
        ("Lioresal Intrathecal 500 mcg/mL", "intrathecal", "product"),
        ("fentanyl 25 mcg/hr patch", "transdermal", "form"),
        ("Suboxone 8-2 SL film", "sublingual", "stated"),
        ("baclofen", None, None),
    ],
)
def test_route(index, text, route, source):
    res = resolve(index.table, text)
    assert (res.route, res.route_source) == (route, source)


@pytest.mark.parametrize(
    "text, per_day, daily",
    [
        ("baclofen 20 mg QID", 4, (80, "mg")),
        ("baclofen 10 mg TID", 3, (30, "mg")),
        ("baclofen 5 mg/5 mL, 10 mL TID", 3, (30, "mg")),
        ("baclofen 10 mg 2 tabs BID", 2, (40, "mg")),
        ("baclofen 10 mg three times daily", 3, (30, "mg")),
        ("baclofen 10 mg b.i.d.", 2, (20, "mg")),
        ("baclofen 10 mg every 8 hours", 3, (30, "mg")),
        ("baclofen 5 mg q6h prn", 4, (20, "mg")),
        ("baclofen intrathecal 400 mcg/day", None, (400, "mcg")),
        ("fentanyl 25 mcg/hr patch", None, (600, "mcg")),
        ("oxycodone 5 mg Q4H:PRN", 6, (30, "mg")),
    ],
)
def test_daily_dose(index, text, per_day, daily):
    res = resolve(index.table, text)
    if per_day is not None:
        assert res.frequency.per_day == per_day
    strength = res.strengths[0]
    assert (strength.daily.value, strength.daily.unit) == daily


def test_daily_dose_not_guessed(index):
    res = resolve(index.table, "baclofen 10 mg")
    assert res.strengths[0].daily is None
    assert res.dose_note == "no frequency given; daily dose not computed"
    res = resolve(index.table, "baclofen 10 mg as needed")
    assert res.strengths[0].daily is None
    assert res.dose_note == "as needed without an interval; daily dose not computed"


def test_strengths_attributed_to_each_ingredient(index):
    res = resolve(index.table, "hydrocodone bitartrate 10 MG / acetaminophen 325 MG Oral Tablet q6h")
    doses = {s.drug: (s.per_dose.value, s.daily.value) for s in res.strengths}
    assert doses == {"hydrocodone": (10, 40), "acetaminophen": (325, 1300)}


def test_every_cdc_product_code_row_resolves_to_its_ingredients(index):
    path = Path(builtin_rules_dir()) / "codes" / "rxnorm-products-cdc.tsv"
    rows = [r for r in csv.reader((row for row in path.read_text().splitlines() if not row.startswith("#")), delimiter="\t")][1:]
    assert len(rows) == 880
    for code, display, _ in rows:
        by_name = resolve(index.table, display)
        assert by_name.status == "resolved", display
        by_code = resolve(index.table, f"rxcui:{code}")
        assert by_code.drugs == tuple(sorted(by_name.drugs)), display


def test_resolution_does_not_scan_all_names(index, monkeypatch):
    """Resolution is dictionary lookups of n-grams: it never iterates over the name table."""

    class NoScan(dict):
        def __iter__(self):
            raise AssertionError("scanned the name table")

        def items(self):
            raise AssertionError("scanned the name table")

        def keys(self):
            raise AssertionError("scanned the name table")

        def values(self):
            raise AssertionError("scanned the name table")

    table = index.table
    monkeypatch.setattr(table, "names", NoScan(table.names))
    assert resolve(table, "OxyCODONE (Immediate Release) 5 mg PO Q4H PRN").drugs == ("oxycodone",)
    assert resolve(table, "hydrocodone bitartrate 10 MG / acetaminophen 325 MG Oral Tablet").status == "resolved"


def test_every_cdc_benzodiazepine_and_opioid_product_warns_with_baclofen(index, run_check):
    path = Path(builtin_rules_dir()) / "codes" / "rxnorm-products-cdc.tsv"
    rows = [r for r in csv.reader((row for row in path.read_text().splitlines() if not row.startswith("#")), delimiter="\t")][1:]
    checked = 0
    for _code, display, value_set in rows:
        if value_set not in ("benzodiazepine-medications", "opioid-analgesics-with-ambulatory-misuse-potential"):
            continue
        report = run_check("baclofen 10 mg TID", display)
        effects = {f.effect for f in report.findings if "baclofen" in f.drugs}
        assert "cns-depression" in effects, display
        checked += 1
    assert checked == 207 + 557


def test_prn_matching_equals_the_regex_it_replaced():
    """find_prn is the old alternation regex done in Python (it cost ~2 ms to compile per process)."""
    import itertools
    import re

    from interactions import sig

    alternation = "|".join(sorted((re.escape(w) for w in sig.INDICATION_WORDS), key=len, reverse=True))
    old = re.compile(
        r"\b(prn|as needed|as required|when required|if needed)\b"
        r"(?:\s+(?:for\s+)?(?:" + alternation + r")\b(?:\s+(?:" + alternation + r")\b)?)?"
    )
    heads = ["prn", "as needed", "if needed", "xprn", "prnx", "q6h prn"]
    tails = ["", " pain", " for pain", " for  back pain", " back pain severe", " shortness of breath", " for", " for sleep x",
             " painful", " sleep\tanxiety", " forpain", " for for pain", " pain, sleep", " bpx", " bp", "  mood mood mood", " fever_"]
    texts = [f"{pre}{h}{t}" for pre, h, t in itertools.product(["", "oxycodone 5 mg ", "a-"], heads, tails)]
    assert len(texts) == 306
    for text in texts:
        match = old.search(text)
        expected = (match.span(), match.group(1)) if match else None
        found = sig.find_prn(text)
        got = (found.span(), found.word) if found else None
        assert got == expected, text
