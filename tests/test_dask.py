"""interactions.dask.screen and `interactions screen` on a real LocalCluster: the same answers as batch --detail summary."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from click.testing import CliRunner  # noqa: E402

from interactions.cli import cli  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import data as bench_data  # noqa: E402

HEADER = ["id", "medication", "dose", "route", "frequency", "age", "egfr"]
# Records that cannot be checked, each kept as a row with `error` set.
BAD = [
    ["bad-empty", "baclofen", "", "", "", "", ""],
    ["bad-empty", "", "", "", "", "", ""],
    ["bad-age", "Xanax", "", "", "", "abc", ""],
    ["bad-route", "baclofen", "10 mg", "zz", "", "", ""],
    ["bad-egfr", "baclofen", "", "", "", "70", "900"],
    ["bad-differs", "baclofen", "", "", "", "70", ""],
    ["bad-differs", "lorazepam", "", "", "", "71", ""],
]
# Records that show the optional columns at work, and an unrecognised name (incomplete).
SPECIAL = [
    ["renal", "baclofen", "10 mg", "PO", "TID", "72", "25"],
    ["renal", "oxycodone", "5 mg", "", "q4h prn", "72", "25"],
    ["intrathecal", "Gablofen 2000 mcg/mL", "450 mcg/day", "intrathecal", "", "", ""],
    ["intrathecal", "alcohol", "", "", "", "", ""],
    ["partial", "baclofn", "", "", "", "", ""],
    ["partial", "Xanax", "", "", "", "", ""],
    ["clean", "lisinopril", "", "", "", "", ""],
]


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on 127.0.0.1, started and closed here."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  silence_logs=40) as local, distributed.Client(local) as client:
        yield local, client


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    """A long CSV: 300 benchmark records (half with age and eGFR), the special and the bad records, ids kept together."""
    path = tmp_path_factory.mktemp("screen") / "rx.csv"
    vocabulary = [v for v, _ in bench_data.VOCABULARY]
    rows = []
    for i, items in enumerate(bench_data.random_lists(300, seed=5)):
        age, egfr = (str(60 + i % 30), str(20 + i % 80)) if i % 2 else ("", "")
        rows += [[f"p{i}", vocabulary[k], "", "", "", age, egfr] for k in items]
        if i == 10:
            rows += SPECIAL + BAD  # among the others, so that they share partitions with them
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    with open(path, "ab") as fh:
        fh.write(b"bad-bytes,lor\xe9zepam,,,,,\n")  # not UTF-8: only this record fails
    return path


@pytest.fixture(scope="module")
def batch_summary(long_csv):
    """What `interactions batch --detail summary` says of each record: {id: line}."""
    result = CliRunner().invoke(cli, ["batch", str(long_csv), "--detail", "summary"])
    assert result.exit_code == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 300 + 4 + 6
    return {line["id"]: line for line in lines}, result.stderr.splitlines()[0]


def _without_place(message):
    """An error without its place: batch names the CSV line, screen the record's row ("line 12: ..." / "row 2: ...")."""
    return None if message is None else re.sub(r"^(line|row) \d+: ", "", message)


def assert_agrees(rows: list, expected: dict) -> None:
    assert sorted(r["id"] for r in rows) == sorted(expected)
    for row in rows:
        line = expected[row["id"]]
        assert {k: list(v) if k in ("rules", "drugs") else v for k, v in row.items() if k != "error"} == \
            {k: line[k] for k in ("id", "highest_severity", "rules", "drugs", "complete")}, row["id"]
        assert _without_place(row["error"]) == _without_place(line["error"]), row["id"]


def test_screen_agrees_record_by_record_with_batch_summary(cluster, long_csv, batch_summary):
    from interactions.dask import COLUMNS, read_long, screen

    _, client = cluster
    frame, roles = read_long([long_csv], blocksize="8KB")  # several partitions, so that ids are split and shuffled together
    assert frame.npartitions > 3
    result = screen(frame, npartitions=5)
    assert tuple(result.columns) == COLUMNS
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in result.compute().to_dict("records")]
    expected, _ = batch_summary
    assert_agrees(rows, expected)
    errors = {r["id"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"bad-empty", "bad-age", "bad-route", "bad-egfr", "bad-differs", "bad-bytes"}
    assert errors["bad-bytes"] == "row 1: not valid UTF-8"
    assert errors["bad-empty"] == "row 2: empty 'medication'"
    assert errors["bad-age"] == 'row 1: age "abc" is not a number'
    assert {r["id"]: r["complete"] for r in rows}["partial"] is False
    # The rules were built once in each worker process, then reused by its other partitions.
    infos = client.run(lambda: __import__("interactions.dask", fromlist=["_index_of"])._index_of.cache_info())
    assert all(info.misses <= 1 for info in infos.values()), infos
    assert sum(info.hits + info.misses for info in infos.values()) >= 5


def test_screen_command_on_the_cluster_writes_parquet_that_agrees(cluster, long_csv, batch_summary, tmp_path):
    local, _ = cluster
    out = tmp_path / "flags.parquet"
    result = CliRunner().invoke(cli, ["screen", str(long_csv), "--out", str(out), "--scheduler", local.scheduler_address])
    expected, batch_line = batch_summary
    assert result.exit_code == 1, result.output
    # The same counts as batch, and the same exit code.
    assert result.stderr.splitlines()[1].split(";")[0] == batch_line.split(";")[0].replace("interactions batch", "interactions screen")
    table = pd.read_parquet(out)
    assert list(table.columns) == ["id", "highest_severity", "rules", "drugs", "complete", "error"]
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in table.to_dict("records")]
    assert_agrees(rows, expected)
    again = CliRunner().invoke(cli, ["screen", str(long_csv), "--out", str(out), "--scheduler", local.scheduler_address])
    assert again.exit_code == 2
    assert again.stderr.strip() == f"interactions: {out} exists; use --overwrite to replace it"


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_jsonl_inputs_many_files_and_a_glob(cluster, long_csv, batch_summary, tmp_path, fmt):
    from interactions.dask import read_long, screen

    table = pd.read_csv(long_csv, dtype=str, keep_default_na=False, encoding_errors="replace")
    table = table[table["id"] != "bad-bytes"]  # Parquet and JSON hold only valid text
    table["age"] = pd.to_numeric(table["age"].where(table["age"] != "abc"), errors="coerce")  # numbers, as a warehouse stores them
    for n, start in enumerate(range(0, len(table), 700)):
        part = table.iloc[start:start + 700]
        if fmt == "parquet":
            part.to_parquet(tmp_path / f"rx-{n}.parquet", index=False)
        else:
            part.to_json(tmp_path / f"rx-{n}.jsonl", orient="records", lines=True)
    frame, _ = read_long([str(tmp_path / f"rx-*.{fmt}")])
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in screen(frame).compute().to_dict("records")]
    expected, _ = batch_summary
    expected = {k: v for k, v in expected.items() if k not in ("bad-age", "bad-bytes")}  # its "abc" is a missing age here
    assert_agrees([r for r in rows if r["id"] != "bad-age"], expected)


def test_rows_without_an_id_are_one_error_row_and_columns_can_be_renamed(cluster):
    from interactions.dask import screen

    table = pd.DataFrame({"patient": ["a", "a", None, None, "b"], "drug": ["baclofen", "alcohol", "Xanax", "oxycodone", "sertraline"]})
    frame = dd.from_pandas(table, npartitions=2)
    rows = screen(frame, id_column="patient", medication_column="drug").compute().sort_values("id", na_position="last").to_dict("records")
    assert [(r["id"], r["highest_severity"], r["error"]) for r in rows][:2] == [("a", "major", None), ("b", None, None)]
    assert rows[2]["error"] == "2 row(s) without an id: not checked" and rows[2]["complete"] is False
    with pytest.raises(ValueError, match="no column for medication"):
        screen(frame, id_column="patient")


def test_screen_starts_and_closes_its_own_local_cluster(tmp_path):
    path = tmp_path / "rx.csv"
    path.write_text("id,medication,age\na,baclofen,72\na,alcohol,72\nb,lisinopril,\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["screen", str(path), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[0].startswith("interactions screen: 1 worker thread(s) at tcp://127.0.0.1:")
    rows = pd.read_parquet(out).sort_values("id").to_dict("records")
    assert [(r["id"], r["highest_severity"] if r["highest_severity"] == r["highest_severity"] else None, list(r["rules"])) for r in rows] == \
        [("a", "major", ["alcohol-cns-depressant"]), ("b", None, [])]


@pytest.mark.parametrize("args, message", [
    (["--column", "patient=pid"], "--column patient=pid: expected ROLE=NAME with ROLE one of id, medication, dose, route, frequency, age, egfr"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers sizes the local cluster; with --scheduler the cluster's own workers do the work"),
    (["--input-format", "csv", "--column", "id=pid"], "the input must have columns for id ('pid'); optional: dose, route, frequency, age, egfr; its columns: id, medication"),
])
def test_screen_usage_errors(tmp_path, args, message):
    path = tmp_path / "rx.csv"
    path.write_text("id,medication\na,baclofen\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["screen", str(path), "--out", str(tmp_path / "out"), *args])
    assert (result.exit_code, result.stderr.strip()) == (2, f"interactions: {message}")


def test_screen_refuses_a_cluster_whose_workers_run_another_version(cluster, long_csv, tmp_path, monkeypatch):
    local, _ = cluster
    monkeypatch.setattr("interactions.__version__", "9.9.9")  # as if this machine had been upgraded and the workers not
    result = CliRunner().invoke(cli, ["screen", str(long_csv), "--out", str(tmp_path / "out"), "--scheduler", local.scheduler_address])
    assert result.exit_code == 2
    assert result.stderr.startswith("interactions: workers run another version of interactions than 9.9.9: tcp://127.0.0.1:")
    assert not (tmp_path / "out").exists()
