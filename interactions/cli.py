"""The `interactions` command line: a thin shell over the pure core."""

from __future__ import annotations

import os
import sys

import click

from .commands import (
    CheckOptions,
    CommandError,
    cache_dir,
    check_command,
    guarded,
    interrupted,
    load,
    pipe_closed,
    stream_name,
    write_problems,
)
from .exitcodes import ERROR
from .formatters import DETAILS
from .version import __version__
from .vocab import PATIENT_LIMITS, SEVERITIES

RULES_OPTION = click.option(
    "--rules", "rules_dir", envvar="INTERACTIONS_RULES", type=click.Path(file_okay=False), default=None,
    help="Rules folder to use instead of the built-in rules (env: INTERACTIONS_RULES).",
)
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")


class _Cli(click.Group):
    """A group that turns Ctrl-C into exit code 130 and unexpected exceptions into 2, never 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            ctx.exit(interrupted(sys.stderr))
        except BrokenPipeError:
            ctx.exit(pipe_closed())
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the contract is "no report" = 2
            click.echo(f"interactions: internal error: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(ERROR)


class _Command(click.Command):
    """A command whose help ends with examples, its exit codes and what the rules check."""

    def format_epilog(self, ctx, formatter):
        _epilog(ctx, formatter)
        super().format_epilog(ctx, formatter)


def _epilog(ctx, formatter) -> None:
    from .helptext import EXAMPLES, EXIT_CODES

    name = ctx.info_name if ctx.parent is not None else "interactions"
    with formatter.section("Examples"):
        for line in EXAMPLES.get(name, []):
            formatter.write(f"{'':>{formatter.current_indent}}{line}\n")
    with formatter.section("Exit codes"):
        formatter.write_dl(EXIT_CODES.get(name, EXIT_CODES["default"]))
    with formatter.section("What is checked"):
        formatter.write_text(_scope_help())


def _scope_help() -> str:
    try:
        from .index import load_index

        scope = load_index(ctx_rules_dir(), cache_dir()).scope
    except Exception:  # noqa: BLE001 - help must print even when the rules do not load
        return "(the rules could not be loaded: run 'interactions rules validate')"
    return f"Only {scope.name}: {'; '.join(scope.checked)}. Not checked: {', '.join(scope.not_checked)}."


def ctx_rules_dir():
    """The rules folder named by --rules or INTERACTIONS_RULES on this command line, if any."""
    ctx = click.get_current_context(silent=True)
    params = ctx.params if ctx is not None else {}
    return params.get("rules_dir") or os.environ.get("INTERACTIONS_RULES")


class _Group(_Cli):
    """The top-level group: the same help epilog as each command."""

    command_class = _Command
    group_class = type

    def format_epilog(self, ctx, formatter):
        if ctx.parent is None:
            _epilog(ctx, formatter)
        super().format_epilog(ctx, formatter)


def _fail(message: str) -> None:
    click.echo(f"interactions: {message}", err=True)
    sys.exit(ERROR)


def _index(rules_dir):
    try:
        return load(rules_dir, sys.stderr)
    except CommandError as exc:
        _fail(str(exc))


def _show_version(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"interactions, version {__version__}")
    ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and exit.")
def cli():
    """Check medication lists for dangerous CNS-depressant combinations."""


@cli.command()
@click.argument("medications", nargs=-1)
@click.option("--input", "-i", "input_file", type=click.File("rb"), help="Read medications from FILE ('-' for stdin): one per line, or JSON.")
@FORMAT_OPTION
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="minor", show_default=True, help="Exit 1 for findings at or above this severity.")
@RULES_OPTION
@click.option("--age", type=click.FloatRange(*PATIENT_LIMITS["age"]), help="Patient age in years.")
@click.option("--egfr", type=click.FloatRange(*PATIENT_LIMITS["egfr"]), help="Patient eGFR in mL/min/1.73 m2.")
@click.option("--previous", "previous_file", type=click.File("rb"), help="The previous medication list, to detect drugs stopped abruptly.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Date for ages from FHIR birthDate (default: today).")
@click.option("--color/--no-color", default=None, help="Colour the text output (default: only on a terminal, and never with NO_COLOR).")
@click.option("--brief", is_flag=True, help="Text: only the status, unrecognised names, the summary and what was not checked.")
@click.option("--explain", is_flag=True, help="Text: show each finding's path through the rule graph and its rule id.")
def check(medications, input_file, fmt, fail_on, rules_dir, age, egfr, previous_file, as_of, color, brief, explain):
    """Check a medication list, given as arguments or with --input (text, JSON or FHIR R4)."""
    options = CheckOptions(medications=medications, input_file=input_file, previous_file=previous_file, fmt=fmt, fail_on=fail_on,
                           rules_dir=rules_dir, age=age, egfr=egfr, as_of=as_of.date() if as_of else None, color=color,
                           brief=brief, explain=explain)
    sys.exit(guarded(lambda: check_command(options, sys.stdout, sys.stderr), sys.stderr))


@cli.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--input-format", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True,
              help="JSONL (check objects or FHIR bundles, one per line) or long CSV (id,medication,...).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="minor", show_default=True,
              help="Exit 1 if any record has a finding at or above this severity.")
@RULES_OPTION
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes; output order is kept.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Date for ages from FHIR birthDate (default: today).")
@click.option("--progress/--no-progress", default=None, help="Progress on stderr (default: only when stderr is a terminal).")
@click.option("--detail", type=click.Choice(DETAILS), default="full", show_default=True,
              help="full: the check JSON of each record; findings: without the medications and references blocks; "
                   "summary: one short line (id, line, highest_severity, rules, drugs, complete, error).")
@click.option("-o", "--output", "output_path", type=click.Path(dir_okay=False), default=None,
              help="Write the results to FILE instead of stdout, all at once: a temporary file, renamed when the run succeeds.")
def batch(input_path, input_format, fail_on, rules_dir, workers, as_of, progress, detail, output_path):
    """Check many lists: one JSON result per record on stdout, in input order; summary on stderr."""
    import contextlib
    import time
    from datetime import date

    from .atomic import atomic_file
    from .batch import BatchError, Tally, input_size, iter_records, open_input, write_batch

    try:
        raw = sys.stdin.buffer if input_path == "-" else open(input_path, "rb")
    except OSError as exc:
        _fail(f"{input_path}: {exc.strerror}")
    size, position = input_size(raw)
    stream, fmt = open_input(raw, input_path, input_format)
    show = progress if progress is not None else sys.stderr.isatty()
    to_file = output_path not in (None, "-")
    tally = Tally(fail_on)
    last = [tally.start, 0]  # when the progress line was written, and its length

    def on_chunk():
        if show and time.perf_counter() - last[0] > 0.5:
            line = tally.progress(position() if size else None, size)
            click.echo(f"\r{line:<{last[1]}}", err=True, nl=False)
            last[:] = [time.perf_counter(), len(line)]

    def summary() -> None:
        # Over the progress line, if there is one.
        click.echo(f"\r{tally.summary():<{last[1]}}" if show else tally.summary(), err=True)

    def failed(message: str, say_not_written: bool = True) -> None:
        summary()
        _fail(message + (f"; {output_path} was not written" if to_file and say_not_written else ""))

    try:
        with atomic_file(output_path) if to_file else contextlib.nullcontext(sys.stdout.buffer) as out:
            write_batch(iter_records(stream, fmt), out, tally, fail_on=fail_on, as_of=(as_of.date() if as_of else date.today()),
                        workers=workers, rules_dir=rules_dir, cache_dir=cache_dir(), on_chunk=on_chunk, detail=detail)
            out.flush()
    except BatchError as exc:
        sys.stdout.buffer.flush()  # what was read before the input broke off (none of it with --output)
        failed(f"{input_path}: {exc}")
    except BrokenPipeError:
        raise  # the reader went away: _Cli exits quietly
    except OSError as exc:
        failed(f"cannot write {output_path if to_file else 'the results'}: {exc.strerror or exc}", say_not_written=False)
    summary()
    click.echo(f"interactions batch: checked {index_scope(rules_dir)}", err=True)
    sys.exit(tally.exit_code())


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--out", "out", required=True, metavar="PATH",
              help="Parquet dataset to write: a folder, or a URL (s3://...) that every worker can write to.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="A running Dask scheduler (tcp://host:8786). Without it, a local cluster on 127.0.0.1 is started and closed.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Local cluster: worker processes  [default: one per CPU]")
@click.option("--input-format", type=click.Choice(["auto", "csv", "parquet", "jsonl"]), default="auto", show_default=True,
              help="Long format, one row per medication: id, medication and optional dose, route, frequency, age, egfr.")
@click.option("--column", "columns", multiple=True, metavar="ROLE=NAME",
              help="Read a role from another column, e.g. --column id=patient_id --column medication=drug_name (repeatable).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="minor", show_default=True,
              help="Exit 1 if any record has a finding at or above this severity.")
@RULES_OPTION
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset at --out (otherwise it is an error).")
def screen(inputs, out, scheduler, workers, input_format, columns, fail_on, rules_dir, overwrite):
    """Check a long table of medications on a Dask cluster; one Parquet row per record (needs the [dask] extra)."""
    try:
        import dask

        from .dask import ROLES, ScreenError, check_output, counts, open_cluster, read_long, write_parquet
        from .dask import screen as screen_frame
    except ImportError as exc:
        _fail(f"screen needs extra packages ({exc.name} is missing): from a checkout, pip install '.[dask]'; "
              f"from a package index, pip install 'interactions[dask]'")
    from .batch import Tally, _Counts

    mapping = {}
    for item in columns:
        role, _, name = item.partition("=")
        if role not in ROLES or not name:
            _fail(f"--column {item}: expected ROLE=NAME with ROLE one of {', '.join(ROLES)}")
        mapping[role] = name
    if scheduler and workers:
        _fail("--workers sizes the local cluster; with --scheduler the cluster's own workers do the work")
    index = _index(rules_dir)
    try:
        frame, roles = read_long(inputs, input_format, mapping)
        check_output(out, overwrite)
    except ScreenError as exc:
        _fail(str(exc))
    try:
        cluster, client = open_cluster(scheduler, workers or os.cpu_count() or 1)
    except ScreenError as exc:
        _fail(str(exc))
    try:
        threads = sum(client.nthreads().values())
        click.echo(f"interactions screen: {threads} worker thread(s) at {client.scheduler.address}", err=True)
        result = screen_frame(frame, rules=index, npartitions=max(frame.npartitions, 2 * threads),
                              **{f"{role}_column": roles.get(role) for role in ROLES})
        tally = Tally(fail_on, command="screen")
        try:
            _, totals = dask.compute(write_parquet(result, out, overwrite), counts(result, fail_on))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a worker's error (unreadable file, failed write) is this run's failure
            _fail(f"screen failed, {out} may be incomplete: {type(exc).__name__}: {exc}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()  # the local cluster this command started
    total = totals  # a Series: one sum per column of the counts
    tally.add_counts(_Counts(int(total["failing"]), int(total["findings"]), int(total["incomplete"]), int(total["errors"]), int(total["records"])))
    click.echo(tally.summary(), err=True)
    click.echo(f"interactions screen: wrote {out}; checked {index_scope(rules_dir)}", err=True)
    sys.exit(tally.exit_code())


def index_scope(rules_dir) -> str:
    """One line on what the rules check and what they do not, for summaries."""
    scope = _index(rules_dir).scope
    return f"{scope.name} only; not checked: {', '.join(scope.not_checked)}"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback must be asked for explicitly.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@RULES_OPTION
@click.option("--max-body", default=1024 * 1024, show_default=True, type=click.IntRange(1024), help="Largest request body in bytes (413 above).")
@click.option("--read-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1), help="Seconds allowed to receive a request body (408 after).")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 300),
              help="Seconds allowed to receive a request's headers, from its first byte; the connection is closed after.")
@click.option("--keep-alive-timeout", default=5, show_default=True, type=click.IntRange(1, 300),
              help="Seconds an idle keep-alive connection stays open.")
@click.option("--max-connections", default=256, show_default=True, type=click.IntRange(1, 100000),
              help="Connections and requests at once; uvicorn answers 503 beyond.")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow browser calls from this origin (repeatable). CORS is off without it.")
@click.option("--jwt-config", type=click.File("rb"),
              help="JSON: {\"base_url\": ..., \"issuers\": {iss: {\"jwks\": {...}}}}; requires a valid client JWT on every call.")
@click.option("--allow-fhir-server", "allow_fhir_servers", multiple=True, metavar="URL", envvar="INTERACTIONS_ALLOW_FHIR_SERVERS",
              help="Fetch missing prefetch data when a call's fhirServer is this base URL or below it (repeatable; env: "
                   "INTERACTIONS_ALLOW_FHIR_SERVERS, space- or comma-separated). https only, or http to a loopback IP. "
                   "Without it nothing is ever fetched.")
@click.option("--fetch-timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="Seconds for one fetch from a FHIR server, from connecting to the last byte.")
@click.option("--max-fetches", default=16, show_default=True, type=click.IntRange(1, 1024),
              help="Fetches from FHIR servers running at once in the whole service (4 at most per call).")
@click.option("--page/--no-page", default=None,
              help="Serve the pharmacist's web page at / (and /check.json). Default: on for a loopback --host, off otherwise.")
def serve(host, port, rules_dir, max_body, read_timeout, header_timeout, keep_alive_timeout, max_connections, cors_origins, jwt_config,
          allow_fhir_servers, fetch_timeout, max_fetches, page):
    """Run the CDS Hooks service and the pharmacist's web page (needs: pip install 'interactions[server]')."""
    import json
    import re

    try:
        from .cdshooks import parse_url
        from .server import Settings, jwt_config_problems
        from .server import serve as run_server
    except ImportError as exc:
        _fail(f"the server needs extra packages ({exc.name} is missing): from a checkout, pip install '.[server]'; "
              f"from a package index, pip install 'interactions[server]'")
    allowed = []
    for url in (part for value in allow_fhir_servers for part in re.split(r"[\s,]+", value) if part):
        try:
            allowed.append(parse_url(url))
        except ValueError as exc:
            _fail(f"--allow-fhir-server {url}: {exc}")
    jwt = None
    if jwt_config is not None:
        try:
            jwt = json.loads(jwt_config.read())
        except ValueError as exc:
            _fail(f"{stream_name(jwt_config)}: invalid JSON: {exc}")
        problems = jwt_config_problems(jwt)
        if problems:
            _fail(f"{stream_name(jwt_config)}: " + "; ".join(problems))
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not loopback:
        click.echo(f"interactions: serving on {host}:{port}, reachable from other machines; put TLS and JWT in front of it", err=True)
    # The page has no login (JWT protects only the CDS Hooks calls): beyond loopback it is served only when asked for.
    if page is None:
        page = loopback
    elif page and not loopback:
        click.echo("interactions: the web page at / has no authentication and is reachable from other machines", err=True)
    if allowed and jwt is None:
        click.echo("interactions: fetching from allow-listed FHIR servers for any caller; use --jwt-config to accept only trusted EHRs", err=True)
    settings = Settings(max_body=max_body, read_timeout=read_timeout, header_timeout=header_timeout, keep_alive_timeout=keep_alive_timeout,
                        max_connections=max_connections, cors_origins=tuple(cors_origins), jwt=jwt,
                        allowed_servers=tuple(allowed), fetch_timeout=fetch_timeout, max_fetches=max_fetches, page=page)
    index = _index(rules_dir)
    click.echo(f"interactions: CDS Hooks service on http://{host}:{port}/cds-services", err=True)
    if page:
        click.echo(f"interactions: web page on http://{host}:{port}/", err=True)
    run_server(index, host, port, settings)


@cli.group()
def rules():
    """Validate or compile a rules folder."""


@rules.command("validate")
@RULES_OPTION
def rules_validate(rules_dir):
    """Check every rule file; print each problem as file:line: message."""
    from .errors import RulesError
    from .index import compile_rules

    try:
        data = compile_rules(rules_dir)
    except RulesError as exc:
        write_problems(exc, sys.stdout)
        click.echo(f"{len(exc.problems)} problem(s) found", err=True)
        sys.exit(ERROR)
    click.echo(
        f"ok: {len(data['drugs'])} drugs, {len(data['products'])} products, {len(data['classes'])} classes, "
        f"{len(data['rules'])} rules, {len(data['sources'])} sources, {len(data['codes'])} codes"
    )


@rules.command("compile")
@RULES_OPTION
@click.option("--output", type=click.Path(dir_okay=False), help="Write the compiled index here instead of the cache.")
def rules_compile(rules_dir, output):
    """Rebuild the compiled index of a rules folder."""
    from .errors import RulesError
    from .index import cache_path, compile_rules, write_json_atomic

    try:
        data = compile_rules(rules_dir)
    except RulesError as exc:
        write_problems(exc, sys.stderr)
        _fail(f"the rules have {len(exc.problems)} problem(s)")
    target = output or cache_path(cache_dir(), data["digest"])
    write_json_atomic(target, data)
    click.echo(f"compiled {len(data['drugs'])} drugs and {len(data['rules'])} rules to {target}")


@cli.command()
@click.argument("name")
@FORMAT_OPTION
@RULES_OPTION
def explain(name, fmt, rules_dir):
    """Show what the checker knows about a drug: names, classes, paths to rules, sources."""
    from .explain import explain_name, format_explanation

    index = _index(rules_dir)
    result = explain_name(index, name)
    click.echo(format_explanation(result, fmt), nl=False)
    sys.exit(0 if result["drugs"] else 3)


@cli.command()
@click.option("--class", "class_id", help="Only drugs that belong to this class (directly or through a subclass).")
@click.option("--classes", "show_classes", is_flag=True, help="List the classes instead: id, name, parents and how many drugs reach each.")
@FORMAT_OPTION
@RULES_OPTION
def drugs(class_id, show_classes, fmt, rules_dir):
    """List the drugs the checker knows, or with --classes its classes."""
    from .explain import format_class_list, format_drug_list, list_drugs

    index = _index(rules_dir)
    if show_classes:
        click.echo(format_class_list(index, fmt), nl=False)
        return
    if class_id is not None and class_id not in index.classes:
        from .vocab import did_you_mean

        _fail(f"unknown class '{class_id}'{did_you_mean(class_id, index.classes)}")
    click.echo(format_drug_list(index, list_drugs(index, class_id), fmt), nl=False)


def main() -> None:
    """Run the click application (interactions.entry.main tries the plain fast path first)."""
    cli(prog_name="interactions")
