"""Batch checking: JSONL, CSV and gzip input, bad records, order, workers and the exit-code table."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import sys
from pathlib import Path

import pytest

from interactions.batch import BatchError, check_records
from interactions.formatters import report_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import data as bench_data  # noqa: E402


def test_a_batch_line_is_the_check_json_contract_in_compact_form(index, run_check):
    """One contract (report_dict): a batch line is its compact, sorted serialisation plus 'id' and 'line'."""
    from interactions.batch import Record, process

    rng = random.Random(7)
    vocabulary = [v for v, _ in bench_data.VOCABULARY] + ["baclofn", "Gablofen", "Tylenol PM", "rxcui:1049621"]
    for _ in range(300):
        meds = rng.sample(vocabulary, rng.randint(1, 12))
        patient = {"age": rng.choice([None, 40, 80]), "egfr": rng.choice([None, 25, 90])}
        previous = rng.sample(vocabulary, rng.randint(0, 3))
        report = run_check(*meds, patient=patient, previous=previous)
        record = {"id": "r1", "medications": meds, "patient": patient, "previous_medications": previous}
        got = process(index, Record(3, "json", json.dumps(record)), "minor", None).data
        expected = report_dict(report)
        parsed = json.loads(got)
        # The library call has no positions; a batch record names them ("medications[0]").
        for m in parsed["medications"] + parsed["previous_medications"] + expected["medications"] + expected["previous_medications"]:
            m["ref"] = None
        assert parsed == {**expected, "id": "r1", "line": 3}
        # orjson writes exactly what json.dumps would: same separators, key order, floats and non-ASCII.
        assert got == json.dumps(json.loads(got), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write(tmp_path, name, text, gz=False):
    path = tmp_path / name
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


JSONL = (
    '{"id": "a", "medications": ["baclofen", "alcohol"]}\n'
    "not json\n"
    '{"id": "b", "medications": "baclofen"}\n'
    "\n"
    '{"id": 3, "medications": ["sertraline"]}\n'
    '{"medication": ["x"]}\n'
    '{"id": "c", "medications": ["baclofn"]}\n'
    '{"id": "d"}\n'
)


def lines(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_jsonl_with_malformed_lines_in_several_places(cli_run, tmp_path):
    result = cli_run("batch", str(write(tmp_path, "in.jsonl", JSONL)))
    out = lines(result)
    assert [(o.get("id"), o["line"], o.get("error")) for o in out] == [
        ("a", 1, None),
        (None, 2, "line 2, column 1: invalid JSON: Expecting value"),
        ("b", 3, "line 3: 'medications' must be a list, got str"),
        (3, 5, None),
        (None, 6, "line 6: unknown key 'medication' (did you mean 'medications'?)"),
        ("c", 7, None),
        ("d", 8, "line 8: missing 'medications'"),
    ]
    assert out[0]["findings"][0]["id"] == "alcohol-cns-depressant"
    assert out[5]["summary"]["complete"] is False
    assert result.exit_code == 1
    assert result.stderr.startswith("interactions batch: 7 records, 1 with findings at or above minor, 1 incomplete, 4 errors; ")


def test_record_shape_matches_check_json(cli_run, tmp_path):
    single = cli_run("check", "baclofen", "alcohol", "--format", "json").json()
    record = lines(cli_run("batch", str(write(tmp_path, "in.jsonl", '{"id": "a", "medications": ["baclofen", "alcohol"]}\n'))))[0]
    assert record.pop("id") == "a" and record.pop("line") == 1
    assert [m.pop("ref") for m in single["medications"]] == ["argument 1", "argument 2"]
    assert [m.pop("ref") for m in record["medications"]] == ["medications[0]", "medications[1]"]
    assert record == single


@pytest.mark.parametrize(
    "fail_on, text, code",
    [
        ("minor", '{"medications": ["baclofen", "alcohol"]}\n{"medications": []}\n', 1),
        ("contraindicated", '{"medications": ["baclofen", "alcohol"]}\n{"medications": 1}\n', 2),
        ("minor", '{"medications": ["baclofn"]}\n{"medications": ["sertraline"]}\n', 3),
        ("minor", '{"medications": ["sertraline"]}\n', 0),
    ],
)
def test_batch_exit_codes(cli_run, tmp_path, fail_on, text, code):
    assert cli_run("batch", str(write(tmp_path, "in.jsonl", text)), "--fail-on", fail_on).exit_code == code


def test_csv_edge_cases(cli_run, tmp_path):
    text = (
        "\ufeffid,medication,dose,route,frequency,age,egfr\r\n"
        '1,baclofen,10 mg,PO,TID,72,45\r\n'
        '1,"Percocet 5/325, 1 tab",,,q6h,72,45\r\n'
        "2,sertraline\r\n"
        "3,lisinopril,,,,abc,\r\n"
        "4,,,,,,\r\n"
        "4,Xanax\r\n"
        "\r\n"
    )
    out = lines(cli_run("batch", str(write(tmp_path, "in.csv", text))))
    assert [(o.get("id"), o["line"], o.get("error")) for o in out] == [
        ("1", 2, None),
        ("2", 4, None),
        ("3", 5, 'line 5: age "abc" is not a number'),
        ("4", 6, "line 6: empty 'medication'"),
    ]
    first = out[0]
    assert [m["input"] for m in first["medications"]] == ["baclofen", "Percocet 5/325, 1 tab"]
    assert first["patient"] == {"age": 72, "egfr": 45}
    assert {f["id"] for f in first["findings"]} >= {"opioid-cns-depressant", "baclofen-renal-impairment"}


def test_csv_without_required_header(cli_run, tmp_path):
    result = cli_run("batch", str(write(tmp_path, "in.csv", "patient,drug\n1,baclofen\n")))
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("line 1: CSV header must have columns id, medication (missing id, medication); optional: dose, route, frequency, age, egfr")


def test_gzip_input_and_bad_utf8_line(cli_run, tmp_path):
    data = b'{"id": 1, "medications": ["baclofen"]}\n{"id": 2, "medications": ["lor\xe9zepam"]}\n{"id": 3, "medications": ["Xanax"]}\n'
    out = lines(cli_run("batch", str(write(tmp_path, "in.jsonl.gz", data, gz=True))))
    assert [(o["id"], o.get("error")) for o in out] == [(1, None), (None, "line 2: not valid UTF-8"), (3, None)]


def test_stdin_and_fhir_ndjson(cli_run):
    bundle = json.loads((Path(__file__).resolve().parent / "fhir" / "ehr-bundle.json").read_text())
    text = json.dumps(bundle) + "\n" + json.dumps({"resourceType": "Condition"}) + "\n"
    out = lines(cli_run("batch", "-", "--as-of", "2026-11-22", input=text))
    assert out[0]["patient"] == {"age": 76, "egfr": 48}
    assert out[0]["skipped"][0]["ref"] == "MedicationRequest/mr-lorazepam-stopped"
    assert out[1]["error"].startswith("line 2: unsupported resourceType 'Condition'")


def test_workers_keep_input_order(tmp_path):
    from click.testing import CliRunner

    from interactions.cli import cli

    path = tmp_path / "many.jsonl"
    bench_data.write_jsonl(path, 1500)
    runner = CliRunner()
    one = runner.invoke(cli, ["batch", str(path)])
    two = runner.invoke(cli, ["batch", str(path), "--workers", "2"])
    assert one.exit_code == two.exit_code == 1
    assert one.stdout == two.stdout
    assert [json.loads(line)["id"] for line in two.stdout.splitlines()] == [f"r{i}" for i in range(1500)]


def test_library_batch_function(index):
    results = list(check_records([{"id": "x", "medications": ["baclofen", "alcohol"]}, {"medications": "bad"}], rules=index))
    assert results[0]["findings"][0]["severity"] == "major"
    assert results[1]["error"] == "line 2: 'medications' must be a list, got str"


def test_truncated_gzip_keeps_what_was_read(cli_run, tmp_path):
    data = b"".join(b'{"id": %d, "medications": ["sertraline"]}\n' % i for i in range(3000))
    path = write(tmp_path, "cut.jsonl.gz", gzip.compress(data)[:-200])
    result = cli_run("batch", str(path))
    assert result.exit_code == 2
    assert len(result.stdout.splitlines()) > 2000
    assert "interactions batch: " in result.stderr
    assert "input unreadable after line" in result.stderr.strip().splitlines()[-1]


def test_csv_field_over_the_limit_is_one_error_line(cli_run, tmp_path):
    path = write(tmp_path, "big.csv", 'id,medication\n1,baclofen\n2,"' + "x" * 5_000_000 + '"\n3,alcohol\n')
    out = lines(cli_run("batch", str(path)))
    assert [(o["id"], "error" in o) for o in out] == [("1", False), (None, True), ("3", False)]


def test_parallel_workers_write_straight_to_the_output_in_order(tmp_path):
    """With a real output file, workers write their own results, taking turns in input order."""
    import subprocess
    import sys

    path = tmp_path / "many.jsonl"
    bench_data.write_jsonl(path, 2000)
    outputs = {}
    for workers in (1, 2, 3):
        target = tmp_path / f"out-{workers}.jsonl"
        with open(target, "wb") as out:
            result = subprocess.run([sys.executable, "-m", "interactions", "batch", str(path), "--workers", str(workers)],
                                    stdout=out, stderr=subprocess.PIPE, text=True, env={**os.environ, "INTERACTIONS_CACHE_DIR": str(tmp_path)})
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("interactions batch: 2000 records, "), result.stderr
        outputs[workers] = (target.read_bytes(), result.stderr.split(";")[0])
    assert outputs[1] == outputs[2] == outputs[3]
    assert [json.loads(line)["id"] for line in outputs[3][0].splitlines()] == [f"r{i}" for i in range(2000)]


def _parallel_run(tmp_path, raw: bytes, name: str, workers: int = 2):
    from interactions.batch import Tally, iter_records, open_input, write_batch

    stream, fmt = open_input(io.BytesIO(raw), name)
    tally = Tally("minor")
    target = tmp_path / "out.jsonl"
    error = None
    with open(target, "wb") as out:
        try:
            write_batch(iter_records(stream, fmt), out, tally, workers=workers)
        except BatchError as exc:
            error = str(exc)
    return target.read_bytes().splitlines(), tally, error


def test_parallel_batch_writes_every_record_read_before_the_input_broke_off(tmp_path):
    data = b"".join(b'{"id": %d, "medications": ["sertraline"]}\n' % i for i in range(3000))
    lines_out, tally, error = _parallel_run(tmp_path, gzip.compress(data)[:-200], "cut.jsonl.gz")
    assert error is not None and error.startswith("input unreadable after line ")
    read = int(error.split("after line ")[1].split(":")[0])
    assert len(lines_out) == tally.records == read
    assert [json.loads(line)["id"] for line in lines_out] == list(range(read))


def test_a_worker_that_dies_ends_the_batch_with_an_error_not_a_hang(tmp_path, monkeypatch):
    from interactions import batch

    real = batch.process

    def dies_on_line_300(index, record, *args):
        if record.line == 300:
            os._exit(9)  # as if killed for memory
        return real(index, record, *args)

    monkeypatch.setattr(batch, "process", dies_on_line_300)  # inherited by the forked workers
    data = b"".join(b'{"id": %d, "medications": ["baclofen", "alcohol"]}\n' % i for i in range(2000))
    lines_out, tally, error = _parallel_run(tmp_path, data, "x.jsonl")
    assert error is not None and "stopped (exit code 9); output after record" in error
    # Everything before the lost chunk is written, in order, and nothing after a gap.
    assert [json.loads(line)["id"] for line in lines_out] == list(range(len(lines_out)))
    assert len(lines_out) < 300


def test_a_worker_killed_halfway_through_writing_leaves_no_half_line(tmp_path, monkeypatch):
    # Killed for memory in the middle of a write: the file is cut back to the last whole chunk,
    # so no reader can take half a JSON line for a record.
    real_write = os.write
    parent = os.getpid()

    def half_then_die(fd, data):
        if os.getpid() != parent and b'"id":300,' in bytes(data):
            real_write(fd, bytes(data)[: len(data) // 2])
            os._exit(9)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_die)  # inherited by the forked workers
    data = b"".join(b'{"id": %d, "medications": ["baclofen", "alcohol"]}\n' % i for i in range(2000))
    lines_out, tally, error = _parallel_run(tmp_path, data, "x.jsonl")
    chunk_start = 300 - 300 % 64
    assert error == f"worker 0 stopped (exit code 9); output after record {chunk_start} is missing", error
    assert [json.loads(line)["id"] for line in lines_out] == list(range(chunk_start))
    assert tally.records == chunk_start


@pytest.mark.parametrize("dies_at", [30, 300])
def test_a_worker_killed_mid_write_never_cuts_into_what_an_appended_file_held(tmp_path, monkeypatch, dies_at):
    # '>> results.jsonl': the offset reads 0 until the first write; a cut must stop at the old end.
    from interactions.batch import Tally, iter_records, open_input, write_batch

    real_write = os.write
    parent = os.getpid()

    def half_then_die(fd, data):
        if os.getpid() != parent and b'"id":%d,' % dies_at in bytes(data):
            real_write(fd, bytes(data)[: len(data) // 2])
            os._exit(9)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_die)
    target = tmp_path / "results.jsonl"
    earlier = b"".join(b'{"earlier": %d}\n' % i for i in range(1000))
    target.write_bytes(earlier)
    data = b"".join(b'{"id": %d, "medications": ["baclofen", "alcohol"]}\n' % i for i in range(2000))
    stream, fmt = open_input(io.BytesIO(data), "x.jsonl")
    fd = os.open(target, os.O_WRONLY | os.O_APPEND)  # as the shell opens it: no seek to the end (Python's "ab" seeks)
    assert os.lseek(fd, 0, os.SEEK_CUR) == 0

    class Shell:
        def fileno(self):
            return fd

        def flush(self):
            pass

    try:
        with pytest.raises(BatchError):
            write_batch(iter_records(stream, fmt), Shell(), Tally("minor"), workers=2)
    finally:
        os.close(fd)
    kept = target.read_bytes()
    assert kept.startswith(earlier)
    assert [json.loads(line)["id"] for line in kept[len(earlier):].splitlines()] == list(range(dies_at - dies_at % 64))


def test_an_unpaired_surrogate_escape_is_one_error_record(cli_run, tmp_path):
    path = write(tmp_path, "s.jsonl", '{"id": "a", "medications": ["\\ud83d"]}\n{"id": "b", "medications": ["baclofen"]}\n')
    out = lines(cli_run("batch", str(path)))
    assert out[0]["error"] == "line 1: medications[0]: contains an unpaired UTF-16 surrogate (e.g. a lone \\ud83d escape), not valid text"
    assert out[1]["id"] == "b" and "error" not in out[1]


# --- --detail, --output, progress ----------------------------------------------------------

def test_summary_and_findings_views_agree_with_the_full_record(tmp_path):
    """Every view is cut from the one contract: a summary line says what the full record says."""
    from click.testing import CliRunner

    from interactions.cli import cli

    path = tmp_path / "many.jsonl"
    bench_data.write_jsonl(path, 300)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"id": "bad", "medications": "baclofen"}\n{"id": "part", "medications": ["baclofn", "Xanax", "alcohol"]}\n')
    runs = {detail: CliRunner().invoke(cli, ["batch", str(path), "--detail", detail]) for detail in ("full", "findings", "summary")}
    assert {r.exit_code for r in runs.values()} == {1}
    assert runs["full"].stderr.split(";")[0] == runs["summary"].stderr.split(";")[0] == runs["findings"].stderr.split(";")[0]
    full, findings, summary = ([json.loads(line) for line in runs[d].stdout.splitlines()] for d in ("full", "findings", "summary"))
    assert len(full) == len(findings) == len(summary) == 302
    for whole, short, line in zip(full, findings, summary, strict=True):
        if "error" in whole:
            assert short == whole
            assert line == {"id": whole["id"], "line": whole["line"], "highest_severity": None, "rules": [], "drugs": [],
                            "complete": False, "error": whole["error"]}
            continue
        assert short == {k: v for k, v in whole.items() if k not in ("medications", "previous_medications", "references")}
        assert line == {
            "id": whole["id"], "line": whole["line"], "highest_severity": whole["summary"]["highest_severity"],
            "rules": list(dict.fromkeys(f["id"] for f in whole["findings"])),
            "drugs": sorted({d for f in whole["findings"] for d in f["drugs"]}),
            "complete": whole["summary"]["complete"], "error": None,
        }
    assert summary[-1]["complete"] is False and summary[-1]["rules"]
    assert len(runs["summary"].stdout) * 20 < len(runs["full"].stdout)


def test_summary_checks_without_explanations_but_decides_the_same(index):
    """engine.check(explain=False) leaves out the explanations, never a finding, a severity or a drug."""
    from interactions.engine import check as engine_check
    from interactions.formatters import summary_record
    from interactions.model import CheckRequest, MedicationInput, Patient

    rng = random.Random(3)
    vocabulary = [v for v, _ in bench_data.VOCABULARY] + ["baclofn", "Gablofen 2000 mcg/mL intrathecal 450 mcg/day", "Tylenol PM"]
    for _ in range(300):
        request = CheckRequest(medications=tuple(MedicationInput(m) for m in rng.sample(vocabulary, rng.randint(1, 12))),
                               previous=tuple(MedicationInput(m) for m in rng.sample(vocabulary, rng.randint(0, 3))),
                               patient=Patient(age=rng.choice([None, 40, 80]), egfr=rng.choice([None, 25, 90])))
        full, lean = engine_check(index, request), engine_check(index, request, explain=False)
        assert summary_record(lean) == summary_record(full)
        assert [(f.id, f.severity, f.drugs, f.reasons) for f in lean.findings] == [(f.id, f.severity, f.drugs, f.reasons) for f in full.findings]
        assert lean.medications == full.medications and lean.sedative_load is None


def test_workers_keep_the_summary_view_identical(tmp_path):
    import subprocess

    path = tmp_path / "many.jsonl"
    bench_data.write_jsonl(path, 1000)
    outputs = []
    for workers in ("1", "2"):
        target = tmp_path / f"out-{workers}.jsonl"
        result = subprocess.run([sys.executable, "-m", "interactions", "batch", str(path), "--workers", workers, "--detail", "summary",
                                 "-o", str(target)], capture_output=True, text=True, env={**os.environ, "INTERACTIONS_CACHE_DIR": str(tmp_path)})
        assert result.returncode == 1, result.stderr
        assert result.stdout == ""
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    assert [json.loads(line)["id"] for line in outputs[1].splitlines()] == [f"r{i}" for i in range(1000)]


def test_output_file_is_written_whole_or_not_at_all(cli_run, tmp_path):
    good = write(tmp_path, "in.jsonl", '{"id": "a", "medications": ["baclofen", "alcohol"]}\n{"id": "b", "medications": 1}\n')
    target = tmp_path / "out.jsonl"
    result = cli_run("batch", str(good), "-o", str(target), "--detail", "summary")
    assert (result.exit_code, result.stdout) == (1, "")
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == ["a", "b"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    # The input breaks off: the earlier result stays as it was, and no temporary file is left behind.
    data = b"".join(b'{"id": %d, "medications": ["sertraline"]}\n' % i for i in range(3000))
    cut = write(tmp_path, "cut.jsonl.gz", gzip.compress(data)[:-200])
    before = target.read_bytes()
    failed = cli_run("batch", str(cut), "--output", str(target))
    assert failed.exit_code == 2
    assert failed.stderr.strip().splitlines()[-1].endswith(f"; {target} was not written")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    missing = cli_run("batch", str(good), "-o", str(tmp_path / "no-such-folder" / "out.jsonl"))
    assert missing.exit_code == 2
    assert missing.stderr.strip().splitlines()[-1] == f"interactions: cannot write {tmp_path / 'no-such-folder' / 'out.jsonl'}: No such file or directory"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_file_with_parallel_workers_and_ctrl_c_leaves_nothing(tmp_path):
    import signal
    import subprocess
    import time

    target = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "interactions", "batch", "-", "--workers", "2", "-o", str(target)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b'{"id": "a", "medications": ["baclofen", "alcohol"]}\n' * 200)
    proc.stdin.flush()
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert list(tmp_path.iterdir()) == []


def test_progress_gives_a_percentage_and_the_time_left():
    from interactions.batch import Tally

    now = [100.0]
    tally = Tally("minor", clock=lambda: now[0])
    now[0] = 110.0
    tally.records = 25_000
    assert tally.progress() == "25,000 records (2,500/s)"
    assert tally.progress(6_000_000, 24_000_000) == "25,000 records (2,500/s), 25% of 24.0 MB, about 0:30 left"
    now[0] = 100.0 + 3 * 3600
    assert tally.progress(1_000_000_000, 4_000_000_000).endswith(", 25% of 4.0 GB, about 9:00:00 left")


def test_progress_on_a_terminal_reads_the_input_size(tmp_path):
    from interactions.batch import input_size

    path = tmp_path / "in.jsonl"
    bench_data.write_jsonl(path, 50)
    with open(path, "rb") as raw:
        size, position = input_size(raw)
        assert size == path.stat().st_size and position() == 0
        raw.read(100)
        assert position() >= 100
    reader, writer = os.pipe()
    with os.fdopen(reader, "rb") as pipe, os.fdopen(writer, "wb"):
        assert input_size(pipe) == (None, None)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_under_workers_is_one_line_and_exit_2(tmp_path, workers):
    import subprocess

    path = tmp_path / "many.jsonl"
    bench_data.write_jsonl(path, 300)
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "interactions", "batch", str(path), "--workers", workers], stdout=full,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "INTERACTIONS_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == "interactions: cannot write the results: No space left on device"


def test_an_id_whose_rows_are_apart_is_an_error_not_two_short_lists(cli_run, tmp_path):
    # Sorted by date, not by patient: checked in parts, baclofen + wine would be missed in silence.
    path = write(tmp_path, "split.csv", "id,medication,age\nA,baclofen 10 mg TID,80\nB,sertraline,50\nA,wine 3 glasses nightly,80\n")
    result = cli_run("batch", str(path), "--detail", "summary")
    assert result.exit_code == 2
    out = lines(result)
    assert [(r["id"], r["line"]) for r in out] == [("A", 2), ("B", 3), ("A", 4)]
    assert out[2]["error"] == ("line 4: rows of id 'A' are not together: the id came earlier in the file with other ids between, "
                               "so its list would be checked in parts. Sort the file by id (rows of one record must be consecutive), "
                               "or use 'interactions screen', which groups them")


def test_closed_ids_remember_every_id_across_merges(monkeypatch):
    from interactions.batch import _ClosedIds

    monkeypatch.setattr(_ClosedIds, "RECENT", 64)  # many merges into the sorted array
    monkeypatch.setattr(_ClosedIds, "BITS", 1 << 10)  # a crowded bitmap: most lookups reach the array
    closed = _ClosedIds()
    keys = [hash(f"patient-{i}") for i in range(5000)]
    for key in keys[:2500]:
        closed.add(key)
    assert len(closed.merged) >= 2496 and all(key in closed for key in keys[:2500])
    assert not any(key in closed for key in keys[2500:])


def test_blank_ids_and_rows_after_a_broken_row_are_not_called_apart(cli_run, tmp_path):
    blank = write(tmp_path, "blank.csv", "id,medication\nA,baclofen\n,lorazepam\nB,sertraline\n,alcohol\n")
    out = lines(cli_run("batch", str(blank), "--detail", "summary"))
    assert [(r["id"], r["error"]) for r in out] == [("A", None), ("", None), ("B", None), ("", None)]
    # A row too long for the CSV reader ends A's rows with an error; A's next row is not "apart".
    from interactions.batch import MAX_LINE_CHARS

    broken = write(tmp_path, "broken.csv", f"id,medication\nA,baclofen\nA,{'x' * (MAX_LINE_CHARS + 1)}\nA,alcohol\n")
    out = lines(cli_run("batch", str(broken), "--detail", "summary"))
    assert [r["line"] for r in out] == [2, 3, 4]
    assert "field larger than field limit" in out[1]["error"] and out[2]["error"] is None
