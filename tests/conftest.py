"""Shared fixtures: the built-in rules compiled once, and a CLI runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from interactions import check as check_api
from interactions.cli import cli
from interactions.index import load_index
from interactions.ruledir import builtin_rules_dir

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def index():
    """The built-in rules, compiled (or loaded prebuilt) once per test session."""
    return load_index()


@pytest.fixture(scope="session")
def run_check(index):
    """Check a list of strings against the built-in rules."""

    def run(*meds, **kwargs):
        return check_api(list(meds), rules=index, **kwargs)

    return run


@pytest.fixture()
def rules_copy(tmp_path):
    """A writable copy of the built-in rules folder."""
    target = tmp_path / "rules"
    shutil.copytree(builtin_rules_dir(), target)
    return target


class Result:
    """What a CLI run produced."""

    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture()
def cli_run(tmp_path, monkeypatch):
    """Run the CLI in-process with a private cache folder; returns a Result."""
    monkeypatch.setenv("INTERACTIONS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("INTERACTIONS_RULES", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    runner = CliRunner()

    def run(*args, input=None, env=None):
        return Result(runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=True))

    return run


class FhirStub:
    """A FHIR server on a free loopback port for tests: answers from `routes` and records every request.

    `routes` maps a path with its query ("/fhir/Patient/p1") or without it ("/fhir/MedicationRequest")
    to (status, JSON body[, headers]) or to a function of the request handler that answers itself.
    Anything else is a 404 OperationOutcome. `seen` lists (path, Authorization header) of each request.
    """

    def __init__(self):
        import http.server
        import threading

        stub = self
        self.routes: dict = {}
        self.seen: list = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536  # headers and body in one write: no Nagle/delayed-ACK stall on a kept-alive connection

            def do_GET(self):
                stub.seen.append((self.path, self.headers.get("Authorization")))
                route = stub.routes.get(self.path) or stub.routes.get(self.path.split("?", 1)[0])
                if callable(route):
                    return route(self)
                status, body, headers = (tuple(route) + ({},))[:3] if route else (404, {"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "not-found", "diagnostics": f"{self.path} not found"}]}, {})
                stub.send(self, status, body, headers)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            # socketserver listens with a backlog of 5: sixteen connections opened at once would see SYNs dropped
            # and retried a second later, past a test's fetch deadline.
            request_queue_size = 128

            def handle_error(self, request, client_address):
                # A client that hangs up (the service cutting a slow answer at its deadline) is expected; socketserver
                # would print a traceback to sys.stderr from this thread, into whatever test captures stderr then.
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def send(handler, status: int, body, headers=None) -> None:
        """Answer with JSON."""
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str = "/fhir") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def fhir_stub():
    """A FhirStub, stopped after the test."""
    stub = FhirStub()
    yield stub
    stub.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (item.rep_call...), so that a fixture can tell that its test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
