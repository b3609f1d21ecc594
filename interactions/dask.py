"""Screen a Dask DataFrame of medications, one row per medication, into one summary row per record.

Needs the [dask] extra (dask[dataframe,distributed] and pyarrow), imported only here and by
the `screen` command. Each record is read and checked by the same code as a record of
`interactions batch` (batch.request_from_rows, batch.evaluate) and reported by the same
view (formatters.summary_record), so its values are those of `batch --detail summary`.
"""

from __future__ import annotations

import functools
import threading

# The output columns, in order; `rules` and `drugs` are lists of strings.
COLUMNS = ("id", "highest_severity", "rules", "drugs", "complete", "error")
# What each input column means to a record (the long CSV header of `interactions batch`).
ROLES = ("id", "medication", "dose", "route", "frequency", "age", "egfr")
_ORDER = "__interactions_row__"  # where a row was in the input, so an id's rows keep their order across a shuffle
_UNDECODABLE = "__interactions_undecodable__"  # the row had bytes that are not UTF-8 (see _number_rows)


class Rules:
    """The compiled rules, shipped to each worker once as one graph key and compared by digest."""

    def __init__(self, data: dict):
        self.data = data
        self.digest = data["digest"]

    def __eq__(self, other):
        return isinstance(other, Rules) and other.digest == self.digest

    def __hash__(self):
        return hash(self.digest)

    def __reduce__(self):
        return Rules, (self.data,)


_LOADING = threading.Lock()


@functools.lru_cache(maxsize=None)
def _index_of(rules: Rules):
    from .index import Index

    return Index(rules.data)


def worker_index(rules: Rules):
    """Return the Index for `rules` in this process, built the first time any partition asks (once per worker)."""
    with _LOADING:  # a worker with several threads still builds it once
        return _index_of(rules)


def parquet_schema(id_dtype):
    """The pyarrow schema of the output: `id` keeps a numeric id's type (any other id is text), `rules` and `drugs` are lists."""
    import pandas as pd
    import pyarrow as pa

    text = pa.string()
    numeric = pd.api.types.is_numeric_dtype(id_dtype) and not pd.api.types.is_bool_dtype(id_dtype)
    id_type = pa.from_numpy_dtype(pd.Series([], dtype=id_dtype).to_numpy().dtype) if numeric else text
    return pa.schema([("id", id_type), ("highest_severity", text), ("rules", pa.list_(text)), ("drugs", pa.list_(text)),
                      ("complete", pa.bool_()), ("error", text)])


def screen(frame, *, id_column: str = "id", medication_column: str = "medication", dose_column: str | None = "dose",
           route_column: str | None = "route", frequency_column: str | None = "frequency", age_column: str | None = "age",
           egfr_column: str | None = "egfr", rules=None, npartitions: int | None = None, shuffle_method: str = "tasks"):
    """Check every record of a long-format Dask DataFrame; return a Dask DataFrame with one row per record.

    `frame` has one row per medication. The rows of one id form one record, in the order they
    have in `frame`, wherever they are (they are shuffled together by id). The optional columns
    (dose, route, frequency, age, egfr) are used when `frame` has them; pass None to ignore one.
    Missing values are empty cells. `rules` is a compiled index (interactions.load_rules());
    by default the built-in rules. It travels to each worker once, so workers need this package
    but not the rules folder. `npartitions` sets how many partitions the records are shuffled
    into (default: as many as `frame` has). `shuffle_method` is Dask's: "tasks" by default, since
    on 200,000 records and 2 workers it ran in 60 s with workers peaking at 316-354 MB, where
    Dask's default "p2p" took 78 s and 521-715 MB, growing with every partition run (1.4 GB a
    worker after 1,000,000 records); see benchmarks/README.md. "p2p" may suit very large clusters.

    The result has the columns id, highest_severity, rules (list), drugs (list), complete and
    error, with the values of `interactions batch --detail summary`. A record that cannot be
    read (an empty medication, an age that is not a number) is a row with `error` set; rows
    without an id are one such row, with a null id. A record never fails the job.
    """
    import dask
    import pandas as pd

    if rules is None:
        from . import load_rules

        rules = load_rules()
    wanted = {"id": id_column, "medication": medication_column, "dose": dose_column, "route": route_column,
              "frequency": frequency_column, "age": age_column, "egfr": egfr_column}
    missing = [f"{role} ({name!r})" for role, name in wanted.items() if role in ("id", "medication") and name not in frame.columns]
    if missing:
        raise ValueError(f"the frame has no column for {', '.join(missing)}; its columns: {', '.join(map(str, frame.columns))}")
    roles = {role: name for role, name in wanted.items() if name is not None and name in frame.columns}
    columns = list(dict.fromkeys(roles.values()))
    numbered = frame[columns].map_partitions(_number_rows, meta=_numbered_meta(frame[columns]))
    shuffled = numbered.shuffle(on=id_column, npartitions=npartitions, shuffle_method=shuffle_method)
    shipped = dask.delayed(Rules(rules.data), name=f"interactions-rules-{rules.digest[:16]}", pure=True)
    meta = pd.DataFrame({"id": pd.Series([], dtype=frame[id_column].dtype), "highest_severity": pd.Series([], dtype=object),
                         "rules": pd.Series([], dtype=object), "drugs": pd.Series([], dtype=object),
                         "complete": pd.Series([], dtype=bool), "error": pd.Series([], dtype=object)})
    return shuffled.map_partitions(_screen_partition, shipped, tuple(roles.items()), meta=meta, enforce_metadata=False)


def _numbered_meta(frame):
    import pandas as pd

    meta = frame._meta.copy()
    meta[_ORDER] = pd.Series([], dtype="int64")
    meta[_UNDECODABLE] = pd.Series([], dtype=bool)
    return meta


def _number_rows(part, partition_info=None):
    """Add each row's place in the input (partition number, then position: an int64 that sorts in input order),
    and make undecodable bytes fit for the shuffle.

    A CSV file is read with undecodable bytes kept as surrogates, so that only their record
    fails, as in batch. Arrow, which carries rows across the shuffle, refuses such text: the
    cell travels with U+FFFD in their place and its row is marked, then read as "not valid
    UTF-8" (see _screen_partition).
    """
    import numpy as np

    from .batch import _SURROGATE

    number = partition_info["number"] if partition_info else 0
    part = part.copy()
    marked = np.zeros(len(part), dtype=bool)
    for name in part.columns:
        if part[name].dtype != object:
            continue
        values = part[name].tolist()
        if "".join(v for v in values if type(v) is str).isascii():
            continue  # the usual case: one C-level test per column
        for i, value in enumerate(values):
            if type(value) is str and _SURROGATE.search(value):
                values[i] = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                marked[i] = True
        part[name] = _objects(values, part.index)
    part[_ORDER] = (np.int64(number) << 32) + np.arange(len(part), dtype="int64")
    part[_UNDECODABLE] = marked
    return part


def _objects(values, index):
    """A column of Python objects (no conversion to Arrow strings)."""
    import pandas as pd

    return pd.Series(values, index=index, dtype=object)


def _text(value, isna) -> str:
    """A cell as batch reads a CSV cell: text; a missing value is empty, a number its decimal form."""
    if type(value) is str:
        return value
    if value is None or isna(value):  # None, NaN, pandas.NA
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an age stored as 71.0 reads as the 71 of a CSV file
    return str(value)


def _screen_partition(part, rules: Rules, roles: tuple):
    """Check the records of one partition (all rows of each of its ids); return their summary rows."""
    import pandas as pd

    from .batch import _SURROGATE, Record, evaluate
    from .formatters import summary_record

    index = worker_index(rules)
    roles = dict(roles)
    part = part.sort_values(_ORDER, kind="stable")
    header = tuple(roles)
    ids = part[roles["id"]].tolist()
    cells_by_column = [part[name].tolist() for name in roles.values()]
    for n, values in enumerate(cells_by_column):
        if not all(type(v) is str for v in values):  # text already (a CSV file): nothing to convert
            cells_by_column[n] = [_text(v, pd.isna) for v in values]
    for i in part[_UNDECODABLE].to_numpy().nonzero()[0].tolist():
        cells_by_column[0][i] += "\udcff"  # a surrogate again (in the id cell): request_from_rows reports the row as not valid UTF-8
    groups: dict = {}
    unnamed = 0
    for i, rid in enumerate(ids):
        if type(rid) is not str and (rid is None or pd.isna(rid)):
            unnamed += 1  # a null id: these rows belong to no record
            continue
        groups.setdefault(rid, []).append(i)
    out = {column: [] for column in COLUMNS}

    def add(rid, summary) -> None:
        out["id"].append(rid)
        for column in COLUMNS[1:]:
            out[column].append(summary[column])

    for rid, rows in groups.items():
        cells = [(n, [column[i] for column in cells_by_column]) for n, i in enumerate(rows, start=1)]
        _, report, error = evaluate(index, Record(1, "csv", (header, cells), rid), None, label="row", explain=False)
        if type(rid) is str and not rid.isascii() and _SURROGATE.search(rid):
            rid = None  # undecodable bytes in the id: Parquet cannot hold it (batch writes a null id too)
        add(rid, summary_record(report, error))
    if unnamed:
        add(None, summary_record(None, f"{unnamed} row(s) without an id: not checked"))
    return pd.DataFrame({"id": pd.Series(out["id"], dtype=part[roles["id"]].dtype),
                         "highest_severity": pd.Series(out["highest_severity"], dtype=object),
                         "rules": pd.Series(out["rules"], dtype=object), "drugs": pd.Series(out["drugs"], dtype=object),
                         "complete": pd.Series(out["complete"], dtype=bool), "error": pd.Series(out["error"], dtype=object)})


# --- the `screen` command's reading and writing ------------------------------------------------

FORMATS = ("auto", "csv", "parquet", "jsonl")


class ScreenError(Exception):
    """The inputs or the output cannot be used (no such file, no id column, an output that exists)."""


def input_format(paths, fmt: str = "auto") -> str:
    """Return the format of the inputs, from --input-format or the first path's extension (a folder is Parquet)."""
    if fmt != "auto":
        return fmt
    first = str(paths[0]).rstrip("/")
    base = first[:-3] if first.endswith(".gz") else first
    if base.endswith(".csv"):
        return "csv"
    if base.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if base.endswith((".parquet", ".pq")) or "." not in base.rsplit("/", 1)[-1]:
        return "parquet"
    raise ScreenError(f"{first}: cannot tell the format from the name; use --input-format csv, parquet or jsonl")


def read_long(paths, fmt: str = "auto", columns: dict | None = None, blocksize: str = "32MB"):
    """Read long-format medication rows (CSV, Parquet or JSONL; globs and many files) into a Dask DataFrame.

    CSV cells are read as text, as `interactions batch` reads them, with header names
    stripped and lower-cased. `columns` maps a role (id, medication, dose, ...) to a column
    name other than its own. Returns (frame, roles) where roles maps each role present to its
    column; other columns are left out.
    """
    import dask
    import dask.dataframe as dd

    paths = [str(p) for p in paths]
    fmt = input_format(paths, fmt)
    names = {role: role for role in ROLES}
    names.update(columns or {})
    try:
        if fmt == "csv":
            compressed = any(p.endswith((".gz", ".bz2", ".xz", ".zst")) for p in paths)
            # Python strings (object), not Arrow strings: undecodable bytes are kept as surrogates,
            # so that only their record fails ("not valid UTF-8"), as in batch.
            with dask.config.set({"dataframe.convert-string": False}):
                frame = dd.read_csv(paths, dtype=object, keep_default_na=False, na_filter=False, encoding="utf-8",
                                    encoding_errors="surrogateescape", blocksize=None if compressed else blocksize, compression="infer")
            frame = frame.rename(columns={c: c.lstrip("\ufeff").strip().lower() for c in frame.columns})
        elif fmt == "parquet":
            frame = dd.read_parquet(paths)
        else:
            frame = dd.read_json(paths, lines=True, blocksize=blocksize, dtype=False)
    except (OSError, ValueError) as exc:
        raise ScreenError(f"{', '.join(paths)}: {exc}") from None
    missing = [f"{role} ({names[role]!r})" if names[role] != role else role for role in ("id", "medication") if names[role] not in frame.columns]
    if missing:
        hint = ("; it looks like check objects, one list per line: screen reads one row per medication, "
                "and 'interactions batch' reads check objects") if "medications" in frame.columns else ""
        raise ScreenError(f"the input must have columns for {', '.join(missing)}; optional: {', '.join(ROLES[2:])}; "
                          f"its columns: {', '.join(map(str, frame.columns))}{hint}")
    roles = {role: name for role, name in names.items() if name in frame.columns}
    return frame[list(dict.fromkeys(roles.values()))], roles


def counts(result, fail_on: str):
    """Return a lazy one-row frame counting the records, those failing at `fail_on`, the incomplete ones and the errors."""
    return result.map_partitions(_count_partition, fail_on, meta=_count_meta()).sum()


def _count_meta():
    import pandas as pd

    return pd.DataFrame({key: pd.Series([], dtype="int64") for key in ("records", "failing", "findings", "incomplete", "errors")})


def _count_partition(part, fail_on: str):
    import pandas as pd

    from .model import severity_at_least

    error = part["error"].notna()
    checked = ~error
    severity = part["highest_severity"]
    failing = severity.map(lambda s: s is not None and s == s and severity_at_least(s, fail_on)).astype(bool)
    return pd.DataFrame({"records": [len(part)], "failing": [int(failing.sum())], "findings": [int(severity.notna().sum())],
                         "incomplete": [int((checked & ~part["complete"].astype(bool)).sum())], "errors": [int(error.sum())]})


def check_output(out: str, overwrite: bool) -> None:
    """Refuse to mix this run's files with an earlier dataset at `out`, unless asked to replace it."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(out)
    if fs.exists(path) and not overwrite and (not fs.isdir(path) or fs.ls(path)):
        raise ScreenError(f"{out} exists; use --overwrite to replace it")


def write_parquet(result, out: str, overwrite: bool = False):
    """Return the lazy write of `result` as a Parquet dataset at `out` (a folder of part files)."""
    return result.to_parquet(out, write_index=False, schema=parquet_schema(result["id"].dtype), overwrite=overwrite, compute=False)


def open_cluster(scheduler: str | None, workers: int):
    """Return (cluster, client): a new LocalCluster of `workers` single-threaded processes on 127.0.0.1
    (the caller closes both), or (None, a client of the running scheduler at `scheduler`).

    Every worker of a running cluster must run this version of interactions: a stale worker
    would answer with other code. A check is pure Python and holds the GIL, hence one thread
    per local worker process.
    """
    import logging

    from distributed import Client, LocalCluster

    from . import __version__

    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
        return cluster, Client(cluster)
    try:
        client = Client(scheduler, timeout="30s")
    except OSError as exc:
        raise ScreenError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        versions = client.run(_installed_version)
    except Exception as exc:  # noqa: BLE001 - e.g. interactions not installed on a worker
        client.close()
        raise ScreenError(f"a worker of {scheduler} cannot run interactions ({type(exc).__name__}: {exc}); "
                          "install the same version on every worker") from None
    wrong = {worker: version for worker, version in versions.items() if version != __version__}
    if wrong or not versions:
        client.close()
        raise ScreenError(f"the Dask scheduler at {scheduler} has no workers" if not versions else
                          f"workers run another version of interactions than {__version__}: "
                          + ", ".join(f"{w} has {v}" for w, v in sorted(wrong.items())))
    return None, client


def _installed_version() -> str:
    from interactions import __version__ as version

    return version
