"""Count CPU instructions per check under valgrind: a noise-free figure for comparing two versions.

    python benchmarks/instructions.py            # nine-drug check, random lists, batch record
    python benchmarks/instructions.py --runs 500

Wall-clock medians on a shared 2-core VM move by 20-40% between runs, so a
5% change cannot be seen in them. Instruction counts (valgrind's cachegrind,
no cache simulation) repeat to within a fraction of a percent. Each figure is
(instructions for warm-up + N calls) - (instructions for warm-up alone), / N,
so start-up and index loading cancel out. The hash seed is fixed (dict probe
sequences otherwise move the counts by a few percent). Needs valgrind on PATH;
it runs the checkout's code (pure Python) with the interpreter that runs this
script, or with --tree the `interactions` package found in another folder (e.g. an
older checkout, to compare two versions). --without-cache NAME measures what one
of the index's caches (Index.cached) buys.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKLOAD = r"""
import io, json, sys
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
import data
import functools
from interactions import check, load_rules
from interactions.batch import Record, process
from interactions.index import Index
if sys.argv[5]:
    # --without-cache NAME: that function of Index.cached is called every time instead.
    cached = Index.cached
    Index.cached = lambda self, f, maxsize=None: functools.partial(f, self) if f.__name__ == sys.argv[5] else cached(self, f, maxsize)
index = load_rules()
vocab = [v for v, _ in data.VOCABULARY]
nine = [vocab[i] for i in data.NINE]
lists = [[vocab[i] for i in l] for l in data.random_lists(500, seed=7)]
records = []
for i, items in enumerate(data.random_lists(500, seed=11)):
    records.append(Record(i + 1, "json", json.dumps({"id": f"r{i}", "medications": [vocab[k] for k in items], "patient": {"age": 70 + i % 20}})))
kind, count = sys.argv[3], int(sys.argv[4])

def one(n):
    if kind == "nine":
        check(nine, rules=index)
    elif kind == "random":
        check(lists[n % len(lists)], rules=index)
    elif kind == "record-full":
        process(index, records[n % len(records)], "minor", None)  # as older checkouts (--tree) take it
    else:
        process(index, records[n % len(records)], "minor", None, kind.split("-", 1)[1])

for n in range(1000):  # warm every memo the measured calls will use
    one(n)
for n in range(count):
    one(n)
"""


def instructions(python: str, kind: str, count: int, tree: Path = ROOT, without: str = "") -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(WORKLOAD)
        script = fh.name
    try:
        result = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             python, script, str(HERE), str(tree), kind, str(count), without],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    finally:
        os.unlink(script)
    match = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if not match:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="calls measured per workload (default 1000)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="folder holding the interactions package to measure (default: this checkout)")
    parser.add_argument("--without-cache", default="", metavar="NAME",
                        help="measure with one Index.cached function uncached, e.g. _line, _pair_outcome, _resolve")
    args = parser.parse_args()
    args.tree = args.tree.resolve()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    # The real interpreter, not a shell shim (pyenv), so that valgrind measures Python itself.
    python = os.path.realpath(sys.executable)
    print(f"interactions from {args.tree}" + (f", without the {args.without_cache} cache" if args.without_cache else ""))
    labels = {"nine": "computed nine-drug check", "random": "computed random 2-15-drug check",
              "record-full": "batch record, --detail full (parse, check, encode)", "record-findings": "batch record, --detail findings",
              "record-summary": "batch record, --detail summary"}
    for kind, label in labels.items():
        base = instructions(python, kind, 0, args.tree, args.without_cache)
        total = instructions(python, kind, args.runs, args.tree, args.without_cache)
        print(f"{label:<52} {(total - base) / args.runs:>12,.0f} instructions")


if __name__ == "__main__":
    main()
