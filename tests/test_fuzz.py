"""Deterministic fuzzing: hostile strings and malformed objects never raise, never produce an internal error."""

from __future__ import annotations

import json
import random
import string
from datetime import date

from interactions.batch import Record, process
from interactions.names import resolve

PIECES = ["baclofen", "10", "mg", "/", "5", "mL", "q", "h", "prn", "x", "#", "No.", "rxcui:", "1292", "tid", "for", "and",
          ";", ",", "-", ".", "0", "mcg/hr", "IT", "pump", "Tylenol", "PM", "alcohol-free", "(", ")", "[", "]", "*", "1e999",
          "\u00e9", "\u0301", "\x00", "  ", "q0h", "every 0 hours", "0 mg/0 ml", "2 x", "tbsp", "1/2", ".5", "5.",
          "999999999999999999999", "0 x", "q 0.0 h", "mg/day", "/hr"]


def test_resolver_and_engine_survive_hostile_strings(index, run_check):
    rng = random.Random(2026)
    for _ in range(3000):
        text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.2:
            text = "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40)))
        resolve(index.table, text)
        report = run_check(text, "oxycodone", patient={"egfr": 30})
        assert report.medications[0].resolution.status in ("resolved", "partial", "unresolved")


def test_batch_records_never_hit_the_internal_error_path(index):
    rng = random.Random(7)
    for _ in range(600):
        record = rng.choice([
            {"medications": [rng.choice(PIECES)], "patient": {"age": rng.choice([1, -1, 1e308, "x", None, True])}},
            {"medications": [{"name": rng.choice(PIECES), "dose": rng.choice(PIECES), "frequency": rng.choice([1, 0, -1, 1e-9, "x", 49])}]},
            {"resourceType": "Bundle", "entry": [{"resource": {
                "resourceType": "MedicationRequest", "status": rng.choice(["active", 5, None]),
                "medicationCodeableConcept": rng.choice([{"text": "baclofen"}, [], "x", {"coding": [5]}]),
                "dosageInstruction": rng.choice([[{"timing": {"repeat": {"frequency": "x", "period": 0}}}], "x", [5],
                                                 [{"doseAndRate": [{"doseQuantity": {"value": True}}]}]])}}]},
            {"resourceType": "Patient", "birthDate": rng.choice(["1950", "x-y", "1950-13-40", 5])},
        ])
        out = process(index, Record(1, "json", json.dumps(record)), "minor", date(2026, 1, 1))
        assert b"internal error" not in out.data, record
