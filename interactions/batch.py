"""Check many medication lists from JSONL, CSV or NDJSON FHIR; results stream in input order."""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
import os
import re
from array import array
from bisect import bisect_left
from collections import deque
from datetime import date
from typing import Iterable, Iterator, NamedTuple

from .engine import check
from .formatters import record_dict
from .inputs import MAX_MEDICATION_CHARS, MAX_MEDICATIONS, InputError, parse_medication, parse_value
from .model import CheckRequest, MedicationInput, ParsedInput, Patient
from .vocab import PATIENT_LIMITS

CSV_REQUIRED = ("id", "medication")
CSV_OPTIONAL = ("dose", "route", "frequency", "age", "egfr")
MAX_LINE_CHARS = 4 * 1024 * 1024
_SURROGATE = re.compile("[\udc80-\udcff]")
CHUNK = 64


class Record(NamedTuple):
    """One input record before checking: where it starts, and its raw content."""

    line: int
    kind: str  # "json" or "csv"
    payload: object  # the JSON text, the error message, or (CSV header, [(line, cells), ...])
    id: object = None


class Outcome(NamedTuple):
    """One output line (UTF-8 JSON, no newline) and what it counts towards."""

    data: bytes
    failing: bool
    findings: bool
    incomplete: bool
    error: bool


class Tally:
    """Count outcomes for the summary line and the exit code."""

    def __init__(self, fail_on: str, clock=None, command: str = "batch"):
        import time

        self.clock = clock or time.perf_counter
        self.start = self.clock()
        self.fail_on = fail_on
        self.command = command
        self.records = self.failing = self.findings = self.incomplete = self.errors = 0

    def add(self, outcome: "Outcome") -> None:
        """Count one record."""
        self.add_counts(_Counts(outcome.failing, outcome.findings, outcome.incomplete, outcome.error, 1))

    def add_counts(self, counts) -> None:
        """Count a chunk written by a worker (see write_batch)."""
        self.records += counts.records
        self.failing += counts.failing
        self.findings += counts.findings
        self.incomplete += counts.incomplete
        self.errors += counts.error

    def progress(self, done: int | None = None, total: int | None = None) -> str:
        """Return a short progress line; with `done` of `total` bytes read, the share done and the time left at this pace."""
        elapsed = self.clock() - self.start
        line = f"{self.records:,} records ({self.records / elapsed if elapsed > 0 else 0:,.0f}/s)"
        if not total or done is None:
            return line
        share = min(done / total, 1.0)
        line += f", {share:.0%} of {_size(total)}"
        if share >= 0.01 and elapsed > 0:
            line += f", about {_duration(elapsed * (1 - share) / share)} left"
        return line

    def summary(self) -> str:
        """Return the summary line: records, with findings, incomplete, errors, time and rate."""
        elapsed = self.clock() - self.start
        rate = self.records / elapsed if elapsed > 0 else 0.0
        return (f"interactions {self.command}: {self.records} records, {self.failing} with findings at or above {self.fail_on}, "
                f"{self.incomplete} incomplete, {self.errors} errors; {elapsed:.2f} s, {rate:.0f} records/s")

    def exit_code(self) -> int:
        """Return the batch exit code (see exitcodes.batch_exit_code)."""
        from .exitcodes import batch_exit_code

        return batch_exit_code(self.failing > 0, self.errors > 0, self.incomplete > 0)


def _size(count: int) -> str:
    """A byte count as people read it: 812 KB, 24.2 MB, 1.9 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}" if count < 100 * scale else f"{count / scale:.0f} {unit}"
    return f"{count} bytes"


def _duration(seconds: float) -> str:
    """Seconds as h:mm:ss or m:ss."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def input_size(raw) -> tuple:
    """Return (size in bytes, a function giving the bytes read so far) for a regular file; (None, None) otherwise (a pipe).

    The position is the operating system's, so it counts compressed bytes of a .gz and
    needs nothing from the buffered readers above it.
    """
    import os
    import stat

    try:
        fd = raw.fileno()
        info = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None, None
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return None, None
    return info.st_size, lambda: os.lseek(fd, 0, os.SEEK_CUR)


class BatchError(Exception):
    """The batch input as a whole cannot be read (e.g. a CSV without the required header)."""


def open_input(raw, name: str, fmt: str = "auto") -> tuple[io.TextIOBase, str]:
    """Wrap a binary stream: gunzip if needed, pick JSONL or CSV, decode UTF-8 lazily.

    Undecodable bytes are kept as surrogates so that only their record fails.
    """
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    if name.endswith(".gz") or buffered.peek(2)[:2] == b"\x1f\x8b":
        buffered = io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"))
    if fmt == "auto":
        base = name[:-3] if name.endswith(".gz") else name
        if base.endswith(".csv"):
            fmt = "csv"
        elif base.endswith((".jsonl", ".ndjson", ".json")):
            fmt = "jsonl"
        else:
            head = buffered.peek(1024)[:1024].decode("utf-8", "replace").lstrip("\ufeff \r\n\t")
            fmt = "jsonl" if head.startswith("{") else "csv"
    return io.TextIOWrapper(buffered, encoding="utf-8", errors="surrogateescape", newline=""), fmt


def iter_records(stream: io.TextIOBase, fmt: str) -> Iterator[Record]:
    """Yield records from a text stream; never loads the whole input."""
    number = 0
    try:
        if fmt == "jsonl":
            for number, line in enumerate(stream, start=1):
                if number == 1:
                    line = line.lstrip("\ufeff")
                if line.strip():
                    yield Record(number, "json", line)
            return
        yield from _csv_records(stream)
    except (EOFError, OSError) as exc:
        # A truncated or corrupt .gz: every record before this point has been checked and written.
        raise BatchError(f"input unreadable after line {number}: {exc or type(exc).__name__}") from None


def _csv_records(stream) -> Iterator[Record]:
    """Group consecutive rows with the same id into records.

    This runs in the parent process, which feeds every worker, so a row costs it as little
    as possible: the cells stay a list (request_from_rows reads them in the worker, by the
    header's positions) and a blank row is found with one join. One unparseable row does not
    end the file.
    """
    csv.field_size_limit(MAX_LINE_CHARS)
    reader = csv.reader(stream)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise BatchError(f"line {reader.line_num}: {exc}") from None
    if first is None:
        return
    header = tuple(h.lstrip("\ufeff").strip().lower() for h in first)
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise BatchError(f"line 1: CSV header must have columns {', '.join(CSV_REQUIRED)} (missing {', '.join(missing)}); optional: {', '.join(CSV_OPTIONAL)}")
    unknown = [h for h in header if h not in CSV_REQUIRED + CSV_OPTIONAL]
    if unknown:
        raise BatchError(f"line 1: unknown CSV column(s) {', '.join(unknown)}; allowed: {', '.join(CSV_REQUIRED + CSV_OPTIONAL)}")
    id_at = header.index("id")
    current_id = None
    rows: list = []
    start = 0
    # An id that comes back after other ids would otherwise be checked as two short lists, and
    # an interaction between its halves silently missed.
    closed = _ClosedIds()

    def record(cut: bool = False) -> Record:
        """The rows read for the current id; `cut`: a CSV error ended them, so the id stays open."""
        if not current_id or cut:  # blank ids are not one patient; rows after a broken row may continue its id
            return Record(start, "csv", (header, rows), current_id)
        key = hash(current_id)
        if key in closed:
            return Record(start, "error", f"line {start}: rows of id {current_id!r} are not together: the id came earlier in the "
                          "file with other ids between, so its list would be checked in parts. Sort the file by id (rows of one "
                          "record must be consecutive), or use 'interactions screen', which groups them", current_id)
        closed.add(key)
        return Record(start, "csv", (header, rows), current_id)

    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if rows:
                yield record(cut=True)
                rows = []
            yield Record(reader.line_num, "error", f"line {reader.line_num}: {exc}")
            continue
        if not "".join(cells).strip():
            continue
        number = reader.line_num
        rid = cells[id_at].strip() if len(cells) > id_at else ""
        if rows and rid != current_id:
            yield record()
            rows = []
        if not rows:
            current_id, start = rid, number
        rows.append((number, cells))
    if rows:
        yield record()


class _ClosedIds:
    """The ids a CSV file has closed, as 64-bit hashes: a bitmap, a set of the recent ones and one sorted array.

    An id costs 8 bytes in the array against ~60 in a set of ints: over 1,000,000 records a set
    took the reading process from ~30 to ~90 MB and batch's peak over 150 MB; this keeps it
    near 60. The bitmap (8 MB) answers most lookups ("never seen") without touching the array.
    """

    RECENT = 1 << 18
    BITS = 1 << 26

    def __init__(self):
        self.bits = bytearray(self.BITS >> 3)
        self.recent: set = set()
        self.merged = array("q")

    def add(self, key: int) -> None:
        slot = key & (self.BITS - 1)
        self.bits[slot >> 3] |= 1 << (slot & 7)
        self.recent.add(key)
        if len(self.recent) >= self.RECENT:
            self.merged = array("q", heapq.merge(self.merged, sorted(self.recent)))
            self.recent = set()

    def __contains__(self, key: int) -> bool:
        slot = key & (self.BITS - 1)
        if not self.bits[slot >> 3] & (1 << (slot & 7)):
            return False
        if key in self.recent:
            return True
        at = bisect_left(self.merged, key)
        return at < len(self.merged) and self.merged[at] == key


def request_from_rows(header: tuple, rows: list, label: str = "line") -> CheckRequest:
    """Read one id's long-format rows into a request: `header` names the columns, `rows` is [(number, cells)].

    Messages name the row as `label` number ("line 5" of a CSV file). A plain row (a name, no
    dose, route or frequency) takes a short path; anything else goes through the JSON
    medication reader, so every format gets one set of checks.
    """
    columns = {name: i for i, name in enumerate(header)}
    width = len(header)
    med_at = columns["medication"]
    optional = [(key, columns[key]) for key in ("dose", "route", "frequency") if key in columns]
    patient = [(key, columns[key], low, high) for key, (low, high) in PATIENT_LIMITS.items() if key in columns]
    meds = []
    context: dict = {}
    seen: dict = {}  # column -> the text already read for it: age and egfr usually repeat on every row
    for number, cells in rows:
        where = f"{label} {number}"
        count = len(cells)
        if count > width:
            raise InputError(f"{where}: {count} columns, more than the {width} in the header")
        joined = "".join(cells)
        if not joined.isascii() and _SURROGATE.search(joined):
            raise InputError(f"{where}: not valid UTF-8")
        name = cells[med_at].strip() if med_at < count else ""
        if not name:
            raise InputError(f"{where}: empty 'medication'")
        fields = {key: value for key, i in optional if i < count and (value := cells[i].strip())}
        if not fields and joined.isascii() and len(name) <= MAX_MEDICATION_CHARS and "\x00" not in name:
            meds.append(MedicationInput(name, None, None, None, where))
        else:
            meds.append(parse_medication({"name": name, **fields}, where))
        for key, i, low, high in patient:
            raw = cells[i].strip() if i < count else ""
            if not raw or seen.get(key) == raw:
                continue
            try:
                value = float(raw)
            except ValueError:
                raise InputError(f"{where}: {key} {json.dumps(raw)} is not a number") from None
            if not low <= value <= high:
                raise InputError(f"{where}: {key} {raw} is out of range ({low:g} to {high:g})")
            if key in context and context[key] != value:
                raise InputError(f"{where}: {key} {raw} differs from {context[key]:g} given earlier for the same id")
            context[key] = value
            seen[key] = raw
    if len(meds) > MAX_MEDICATIONS:
        raise InputError(f"{label} {rows[0][0]}: more than {MAX_MEDICATIONS} medications for one id")
    return CheckRequest(medications=tuple(meds), patient=Patient(age=context.get("age"), egfr=context.get("egfr")))


def _dump(data: dict) -> bytes:
    """One compact, key-sorted JSON line in UTF-8 (orjson: the same bytes as json.dumps, ~3x faster)."""
    import orjson

    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def evaluate(index, record: Record, as_of: date | None, label: str = "line", explain: bool = True) -> tuple:
    """Check one record: (id, Report, None), or (id, None, message) when it cannot be read or checked; never raises.

    `explain=False` checks without explanations (engine.check): enough for the summary view.
    """
    rid = record.id
    where = f"{label} {record.line}"
    try:
        if record.kind == "error":
            raise InputError(record.payload)
        if record.kind == "json":
            text = record.payload
            if len(text) > MAX_LINE_CHARS:
                raise InputError(f"{where}: {len(text)} characters, over the {MAX_LINE_CHARS}-character limit")
            if not text.isascii() and _SURROGATE.search(text):
                raise InputError(f"{where}: not valid UTF-8")
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}, column {exc.colno}: invalid JSON: {exc.msg}") from None
            if isinstance(data, dict):
                rid = data.get("id", rid)
                if rid is not None and not isinstance(rid, (str, int, float)):
                    rid = None
                    raise InputError(f"{where}: 'id' must be a string or a number")
            parsed = parse_value(data, where, as_of)
        else:
            parsed = ParsedInput(request=request_from_rows(*record.payload, label))
        if not parsed.request.medications:
            raise InputError(f"{where}: no medications")
        return rid, check(index, parsed.request, parsed.skipped, parsed.notes, explain), None
    except InputError as exc:
        return rid, None, str(exc)
    except RecursionError:
        return rid, None, f"{where}: nested too deeply"
    except Exception as exc:  # noqa: BLE001 - last resort: one record must never lose the others
        return rid, None, f"{where}: internal error while checking this record: {type(exc).__name__}"


def process(index, record: Record, fail_on: str, as_of: date | None, detail: str = "full") -> Outcome:
    """Check one record and write its line in the `detail` view; a record that cannot be read becomes an error line."""
    rid, report, error = evaluate(index, record, as_of, explain=detail != "summary")
    try:
        data = _dump(record_dict(rid, record.line, report, error, detail))
    except TypeError:  # orjson.JSONEncodeError: an unpaired surrogate that reached the id or the report some other way
        message = f"line {record.line}: text that is not valid Unicode (an unpaired surrogate)"
        return Outcome(_dump(record_dict(None, record.line, None, message, detail)), False, False, False, True)
    if report is None:
        return Outcome(data, False, False, False, True)
    return Outcome(data, report.fails(fail_on), bool(report.findings), not report.complete, False)


# --- running, in one process or several ---------------------------------------------------

_WORKER: dict = {}
_PIPE_CLOSED = 32  # a worker's exit code when the output pipe closed under it
_WRITE_FAILED = 33  # a worker's exit code after it sent the parent the error that stopped its writing


def _freeze() -> None:
    """Move the long-lived index out of the garbage collector's sight: it is never freed."""
    import gc

    gc.collect()
    gc.freeze()


def _init_worker(rules_dir, cache_dir, fail_on, as_of, detail) -> None:
    from .index import load_index

    _WORKER.update(index=load_index(rules_dir, cache_dir), fail_on=fail_on, as_of=as_of, detail=detail)
    _freeze()


def _run_chunk(chunk: list) -> list:
    return [process(_WORKER["index"], r, _WORKER["fail_on"], _WORKER["as_of"], _WORKER["detail"]) for r in chunk]


def _chunks(records: Iterable[Record]) -> Iterator[list]:
    chunk: list = []
    try:
        for record in records:
            chunk.append(record)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
    except BatchError:
        # The input broke off (e.g. a truncated .gz): what was read still gets checked and written.
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def run_batch(records: Iterable[Record], index=None, *, fail_on: str = "minor", as_of: date | None = None,
              workers: int = 1, rules_dir=None, cache_dir=None, detail: str = "full") -> Iterator[Outcome]:
    """Yield one Outcome per record, in input order, with a bounded number of records in flight."""
    if workers <= 1:
        if index is None:
            from .index import load_index

            index = load_index(rules_dir, cache_dir)
        _freeze()
        for record in records:
            yield process(index, record, fail_on, as_of, detail)
        return
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    window = workers * 3
    with ctx.Pool(workers, initializer=_init_worker, initargs=(rules_dir, cache_dir, fail_on, as_of, detail)) as pool:
        pending: deque = deque()
        for chunk in _chunks(records):
            pending.append(pool.apply_async(_run_chunk, (chunk,)))
            while len(pending) >= window:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def write_batch(records: Iterable[Record], out, tally: Tally, *, fail_on: str = "minor", as_of: date | None = None,
                workers: int = 1, rules_dir=None, cache_dir=None, on_chunk=None, detail: str = "full") -> None:
    """Write one JSON line per record to the binary stream `out`, in input order, counting into `tally`.

    With several workers and a real file descriptor, each worker writes its own results straight
    to the descriptor, taking turns in input order: the results (about 15 KB per record) never
    travel through the parent, which would otherwise spend a core copying them. `on_chunk` is
    called after each chunk (for progress). BatchError from the input is raised after every
    record read before it has been written.
    """
    import multiprocessing

    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if workers <= 1 or fd is None or "fork" not in multiprocessing.get_all_start_methods():
        for outcome in run_batch(records, fail_on=fail_on, as_of=as_of, workers=workers, rules_dir=rules_dir, cache_dir=cache_dir,
                                 detail=detail):
            out.write(outcome.data)
            out.write(b"\n")
            tally.add(outcome)
            if on_chunk is not None and tally.records % CHUNK == 0:
                on_chunk()
        return
    out.flush()
    _write_parallel(records, fd, tally, fail_on, as_of, workers, rules_dir, cache_dir, on_chunk, detail)


class _Counts(NamedTuple):
    """What a written chunk counts towards; Tally.add takes it like an Outcome."""

    failing: int
    findings: int
    incomplete: int
    error: int
    records: int


def _write_parallel(records, fd, tally, fail_on, as_of, workers, rules_dir, cache_dir, on_chunk, detail) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    from .index import load_index

    ctx = multiprocessing.get_context("fork")
    # Loaded once before forking: the workers share its pages instead of loading it again.
    index = load_index(rules_dir, cache_dir)
    turns = [ctx.Semaphore(0) for _ in range(workers)]
    turns[0].release()
    tasks = [ctx.Pipe(duplex=False) for _ in range(workers)]  # (worker reads, parent writes)
    results = [ctx.Pipe(duplex=False) for _ in range(workers)]  # (parent reads, worker writes)
    procs = [ctx.Process(target=_writer, args=(w, index, tasks, results, turns, fd, fail_on, as_of, detail), daemon=True)
             for w in range(workers)]
    for proc in procs:
        proc.start()
    # Each pipe end stays open in one process only: a dead worker then shows as a broken pipe or
    # an end of file here, never as a write that blocks forever.
    for reader, _ in tasks:
        reader.close()
    for _, writer in results:
        writer.close()
    sent = [0] * workers
    received = [0] * workers
    # Chunks are written in input order; a worker reports each one with the file offset it ended
    # at. Counts join the tally only once every chunk before them is reported, so the tally and
    # `whole` (where the last unbroken chunk ends) always describe the same prefix of the output.
    reported: dict[int, tuple] = {}
    whole = [0, _offset(fd)]  # chunks in the unbroken prefix, and the offset it ends at

    def stopped(w: int, why: str) -> _WorkerStopped:
        return _WorkerStopped(f"worker {w} stopped ({why})")

    def collect(in_flight: int, patience: float | None = None) -> None:
        """Count finished chunks until at most `in_flight` are still being checked.

        With `patience`, give up once no worker has reported for that many seconds.
        """
        while sum(sent) - sum(received) > in_flight:
            readers = {results[w][0]: w for w in range(workers) if received[w] < sent[w]}
            ready = wait(list(readers), timeout=patience)
            if not ready:
                return
            for conn in ready:
                w = readers[conn]
                try:
                    message = conn.recv()
                except EOFError:
                    procs[w].join(1.0)
                    if procs[w].exitcode == _PIPE_CLOSED:
                        raise BrokenPipeError("the reader of the output went away") from None
                    raise stopped(w, f"exit code {procs[w].exitcode}") from None
                if isinstance(message, OSError):
                    raise message  # the worker could not write the output
                reported[received[w] * workers + w] = message
                received[w] += 1
                while whole[0] in reported:
                    counts, whole[1] = reported.pop(whole[0])
                    whole[0] += 1
                    tally.add_counts(counts)
                    if on_chunk is not None:
                        on_chunk()

    def send(w: int, item) -> None:
        try:
            tasks[w][1].send(item)
        except (BrokenPipeError, ConnectionResetError):
            procs[w].join(1.0)
            raise stopped(w, f"exit code {procs[w].exitcode}") from None

    finished = False
    failure = None
    try:
        for number, chunk in enumerate(_chunks(records)):
            w = number % workers
            send(w, chunk)
            sent[w] += 1
            # Bounded memory: at most three chunks per worker in flight.
            collect(workers * 3 - 1)
        for w in range(workers):
            send(w, None)
        collect(0)
        finished = True
    except _WorkerStopped as exc:
        failure = exc
    finally:
        if not finished:
            # Whatever was read before the failure has been handed out: let it be written, if
            # the workers still can, then stop them.
            for w in range(workers):
                try:
                    tasks[w][1].send(None)
                except OSError:
                    pass
            try:
                collect(0, patience=2.0)
            except (BatchError, OSError, _WorkerStopped):
                pass  # the first failure is the one reported
            for proc in procs:
                proc.join(2.0)
                if proc.exitcode is None:
                    proc.terminate()
        for proc in procs:
            proc.join()
        if not finished:
            _cut_to(fd, whole[1])
    if failure is not None:
        raise BatchError(f"{failure}; output after record {tally.records} is missing") from None


class _WorkerStopped(Exception):
    """A worker died: raised inside _write_parallel, reported as a BatchError once the output is cut."""


def _offset(fd: int) -> int | None:
    """Where the next write to the descriptor lands if it is a regular file (None for a pipe or a terminal).

    Opened for appending ('>> out.jsonl'), the offset reads 0 until the first write although
    every write goes to the end: the end is then the answer, or a cut would wipe the file.
    """
    import fcntl
    import stat

    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        return info.st_size if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND else os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None


def _cut_to(fd: int, end: int | None) -> None:
    """Cut a regular file back to the end of its last whole chunk.

    A worker that dies while writing (killed for memory, say) can leave half a chunk, half a JSON
    line, after the last one it reported; a reader would take that for a record. A pipe cannot be
    cut: there the error line and the exit code are what tell the reader the output is short.
    """
    if end is None:
        return
    try:
        os.ftruncate(fd, end)
        os.lseek(fd, end, os.SEEK_SET)
    except OSError:
        pass


def _writer(number, index, tasks, results, turns, fd, fail_on, as_of, detail) -> None:
    """A worker: check each chunk it is given; a thread writes it when its turn comes and passes the turn on.

    Checking and waiting for the turn overlap: while the thread waits for the other workers
    to write the chunks before this one, the worker checks its next chunk. Without the thread
    a worker that finished early sat idle until its turn, and any worker slowed down (another
    process on its core, a chunk of long lists) held up all the others: 5-15% of each
    worker's time on two workers here.
    """
    import os
    import queue
    import signal
    import threading

    # Ctrl-C is the parent's to handle: it lets the chunks in flight finish, then stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    # Keep only this worker's ends of the pipes (see _write_parallel).
    for w, (reader, writer) in enumerate(tasks):
        writer.close()
        if w != number:
            reader.close()
    for w, (reader, writer) in enumerate(results):
        reader.close()
        if w != number:
            writer.close()
    source, sink = tasks[number][0], results[number][1]
    _freeze()
    following = turns[(number + 1) % len(turns)]
    checked: queue.Queue = queue.Queue(maxsize=2)  # chunks checked and waiting for their turn: memory stays bounded

    def write_in_turn() -> None:
        while True:
            item = checked.get()
            if item is None:
                return
            data, counts = item
            turns[number].acquire()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            except BrokenPipeError:
                following.release()
                os._exit(_PIPE_CLOSED)  # the reader went away (e.g. '| head'): nothing more can be written
            except OSError as exc:
                sink.send(exc)  # e.g. a full disk: the parent reports it as one line
                os._exit(_WRITE_FAILED)
            end = _offset(fd)  # read before the turn passes on, while the offset is still this chunk's end
            following.release()
            sink.send((counts, end))

    thread = threading.Thread(target=write_in_turn, daemon=True)
    thread.start()
    while True:
        chunk = source.recv()
        if chunk is None:
            checked.put(None)
            thread.join()
            return
        outcomes = [process(index, record, fail_on, as_of, detail) for record in chunk]
        data = b"\n".join([*[o.data for o in outcomes], b""])  # each ~15 KB line copied once
        checked.put((data, _Counts(sum(o.failing for o in outcomes), sum(o.findings for o in outcomes),
                                   sum(o.incomplete for o in outcomes), sum(o.error for o in outcomes), len(outcomes))))


def check_records(records: Iterable[dict], rules=None, *, fail_on: str = "minor", as_of: date | None = None,
                  detail: str = "full") -> Iterator[dict]:
    """Check an iterable of check objects (dicts, as in JSONL); yield one result dict per record, in order, in the `detail` view."""
    from . import load_rules

    index = rules if rules is not None else load_rules()
    for number, data in enumerate(records, start=1):
        record = Record(number, "json", json.dumps(data))
        yield json.loads(process(index, record, fail_on, as_of, detail).data)
