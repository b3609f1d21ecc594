"""Loopback load on the CDS Hooks service: p50/p99 of N POSTs at concurrency C, and the server's CPU per call.

    python benchmarks/serve_load.py                 # 500 calls at concurrency 10, prefetch sent
    python benchmarks/serve_load.py --fetch         # prefetch left out, fetched from a stub FHIR server
    python benchmarks/serve_load.py -n 2000 -c 20

Everything runs on 127.0.0.1 and is stopped at the end: `interactions serve` as a subprocess of the
Python running this script, and with --fetch a stub FHIR server (a thread here) that the service is
allowed to fetch from. The body is docs/examples/order-select.json. Server CPU per call is read from
/proc (Linux); elsewhere it is left out. The client threads run in this process and share its CPU
with the stub, so on a small machine compare figures from the same run only.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/cds-services/interactions-order-select"


def start_server(python, *extra: str) -> tuple[subprocess.Popen, int]:
    """Start `interactions serve` on a free loopback port with `python`; return (process, port) once it accepts connections.

    The caller terminates the process. Used here and by run.py's CDS Hooks load.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(python), "-m", "interactions", "serve", "--port", str(port), *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise RuntimeError("the server did not start") from None
            time.sleep(0.05)


def _stub(searchset: dict) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 65536  # one write per answer

        def do_GET(self):
            body = searchset if "MedicationRequest" in self.path else {"resourceType": "Bundle", "type": "searchset"}
            if self.path.split("?")[0].endswith("/Patient/p1"):
                body = {"resourceType": "Patient", "id": "p1", "birthDate": "1951-04-02"}
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="calls (default 500)")
    parser.add_argument("-c", type=int, default=10, help="concurrency (default 10)")
    parser.add_argument("--fetch", action="store_true", help="leave the prefetch out and let the service fetch it")
    args = parser.parse_args()

    body = json.loads((ROOT / "docs" / "examples" / "order-select.json").read_text(encoding="utf-8"))
    extra, stub = [], None
    if args.fetch:
        stub = _stub({"resourceType": "Bundle", "type": "searchset", "entry": body["prefetch"]["medications"]["entry"]})
        base = f"http://127.0.0.1:{stub.server_address[1]}/fhir"
        body = {**body, "prefetch": {}, "fhirServer": base}
        extra = ["--allow-fhir-server", base]
    raw = json.dumps(body).encode()
    server, port = start_server(sys.executable, *extra)
    try:
        def call(_) -> float:
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", PATH, raw, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            conn.close()
            if response.status != 200 or not json.loads(data)["cards"]:
                raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
            return time.perf_counter() - start

        for _ in range(20):
            call(None)  # warm-up
        cpu = _cpu_seconds(server.pid)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.c) as pool:
            latencies = sorted(pool.map(call, range(args.n)))
        wall = time.perf_counter() - start
        cpu_after = _cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if stub is not None:
            stub.shutdown()
    q = statistics.quantiles(latencies, n=100)
    line = (f"{'fetched' if args.fetch else 'prefetch sent'}: {args.n} calls at concurrency {args.c}: p50 {q[49] * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms, {args.n / wall:.0f} calls/s")
    if cpu is not None and cpu_after is not None:
        line += f", server CPU {(cpu_after - cpu) / args.n * 1000:.1f} ms/call"
    print(line)


if __name__ == "__main__":
    main()
