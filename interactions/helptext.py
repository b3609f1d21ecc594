"""What every `--help` ends with: examples, the exit codes and what the rules check (data, no logic)."""

from __future__ import annotations

EXAMPLES = {
    "interactions": [
        'interactions check "Baclof 10 mg tablet TID" Xanax alcohol --age 72 --egfr 45',
        "interactions batch lists.jsonl > results.jsonl",
        "interactions screen rx.parquet --out flags.parquet",
        "interactions serve --port 8080",
        "interactions explain baclofen",
    ],
    "check": [
        'interactions check "Baclof 10 mg tablet TID" Xanax "Tylenol PM" alcohol --age 72 --egfr 45',
        "interactions check --input meds.txt --previous before.txt",
        "interactions check --input bundle.json --format json",
        "interactions check baclofen lorazepam --brief",
    ],
    "batch": [
        "interactions batch lists.jsonl > results.jsonl",
        "interactions batch lists.csv.gz --workers 2 --fail-on major -o out.jsonl",
        "interactions batch lists.jsonl --detail summary -o nightly.jsonl   # one short line per record",
        "cat lists.jsonl | interactions batch -",
    ],
    "screen": [
        "pip install '.[dask]'   # from a checkout; 'interactions[dask]' from an index",
        "interactions screen rx.csv --out flags.parquet --workers 2",
        "interactions screen 'rx/*.parquet' --out flags.parquet --column id=patient_id --column medication=drug_name",
        "interactions screen 's3://bucket/rx/*.parquet' --out s3://bucket/flags.parquet --scheduler tcp://10.0.0.5:8786",
    ],
    "serve": [
        "pip install '.[server]'   # from a checkout; 'interactions[server]' from an index",
        "interactions serve --host 127.0.0.1 --port 8080",
        "interactions serve --allow-fhir-server https://fhir.hospital.example/r4 --jwt-config jwt.json",
    ],
    "rules": ["interactions rules validate --rules my-rules/", "interactions rules compile"],
    "validate": ["interactions rules validate --rules my-rules/"],
    "compile": ["interactions rules compile --rules my-rules/"],
    "explain": ["interactions explain baclofen", "interactions explain Xanax --format json"],
    "drugs": ["interactions drugs --class benzodiazepine", "interactions drugs --classes"],
}

EXIT_CODES = {
    "check": [
        ("0", "every name recognised and no finding at or above --fail-on"),
        ("1", "a finding at or above --fail-on"),
        ("2", "no report: usage error, unreadable input, invalid rules, internal error"),
        ("3", "a report, but incomplete: a name was not recognised (and no finding at or above --fail-on)"),
        ("130", "interrupted (Ctrl-C)"),
        ("141", "the reader of the output went away (e.g. '| head')"),
    ],
    "batch": [
        ("0", "every record checked, complete, no finding at or above --fail-on"),
        ("1", "a record has a finding at or above --fail-on"),
        ("2", "otherwise, a record errored or the input is unreadable"),
        ("3", "otherwise, a record was incomplete"),
        ("130", "interrupted (Ctrl-C)"),
        ("141", "the reader of the output went away (e.g. '| head')"),
    ],
    "screen": [
        ("0", "every record checked, complete, no finding at or above --fail-on"),
        ("1", "a record has a finding at or above --fail-on"),
        ("2", "otherwise, a record errored; or no result: unreadable input, an existing --out, a failed job or cluster"),
        ("3", "otherwise, a record was incomplete"),
        ("130", "interrupted (Ctrl-C)"),
    ],
    "explain": [("0", "the name was recognised"), ("2", "usage error or invalid rules"), ("3", "the name was not recognised")],
    "default": [("0", "success"), ("2", "usage error, unreadable input or invalid rules"), ("130", "interrupted (Ctrl-C)")],
}
