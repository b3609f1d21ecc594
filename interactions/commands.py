"""What the `check` command does, without click: shared by the click command and the plain fast path.

Everything here writes to the streams it is given and returns an exit code;
nothing calls sys.exit, so both callers stay in charge of the process.
"""

from __future__ import annotations

import os

from .exitcodes import ERROR, exit_code
from .vocab import LazyPattern


# What click.echo(color=False) strips: CSI sequences.
_ANSI = LazyPattern(r"\x1b\[[;?0-9]*[a-zA-Z]")


class CommandError(Exception):
    """A user-facing failure: printed as 'interactions: <message>', exit code 2."""


def cache_dir() -> str:
    """Return the user cache folder for compiled custom rule sets."""
    if os.environ.get("INTERACTIONS_CACHE_DIR"):
        return os.environ["INTERACTIONS_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "interactions")


def write_problems(exc, stream) -> None:
    """Print each rule problem as path:line: message."""
    for problem in exc.problems:
        stream.write(f"{problem}\n")
    stream.flush()


def load(rules_dir, err):
    """Return the compiled rules, or print their problems to `err` and raise CommandError."""
    from .errors import RulesError
    from .index import load_index

    try:
        return load_index(rules_dir, cache_dir())
    except RulesError as exc:
        write_problems(exc, err)
        raise CommandError(f"the rules have {len(exc.problems)} problem(s); run 'interactions rules validate'") from None


def use_color(flag, stream) -> bool:
    """Colour only when asked, or on a terminal without NO_COLOR."""
    if flag is not None:
        return flag
    return "NO_COLOR" not in os.environ and stream.isatty()


def stream_name(stream) -> str:
    """Return a file name for messages, '<stdin>' for standard input."""
    name = getattr(stream, "name", None)
    return "<stdin>" if name in (None, "-", "<stdin>") or not isinstance(name, str) else name


def read_limited(stream) -> bytes:
    """Read one byte past the input limit, so that oversized input is reported, not truncated."""
    from .inputs import MAX_INPUT_BYTES

    return stream.read(MAX_INPUT_BYTES + 1)


def check_command(medications, input_file, fmt, fail_on, rules_dir, age, egfr, previous_file, as_of, color, out, err) -> int:
    """Run one check as the command line does; return the exit code.

    `input_file` and `previous_file` are open binary streams or None; `as_of` is a date or None.
    """
    from .engine import check
    from .formatters import FORMATTERS
    from .inputs import InputError, combine, parse_arguments, parse_input, parse_previous
    from .model import CheckRequest, ParsedInput

    try:
        parsed = ParsedInput(request=CheckRequest(medications=()))
        if input_file is not None:
            if as_of is None:
                from datetime import date

                as_of = date.today()
            parsed = parse_input(read_limited(input_file), stream_name(input_file), as_of)
        previous = parse_previous(read_limited(previous_file), stream_name(previous_file)) if previous_file is not None else None
        request = combine(parse_arguments(medications), parsed, previous, age, egfr)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    report = check(load(rules_dir, err), request, parsed.skipped, parsed.notes)
    colored = use_color(color, out) and fmt == "text"
    text = FORMATTERS[fmt](report, color=colored)
    if not colored and "\x1b" in text:
        # Never pass escape sequences from names (e.g. a FHIR display) to a terminal uncoloured.
        text = _ANSI.sub("", text)
    out.write(text)
    out.flush()
    return exit_code(report, fail_on)


def guarded(run, err) -> int:
    """Run `run()`; a CommandError exits 2 with its message, any other exception is an internal error (2)."""
    try:
        return run()
    except CommandError as exc:
        err.write(f"interactions: {exc}\n")
        err.flush()
        return ERROR
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - the contract is "no report" = 2
        err.write(f"interactions: internal error: {type(exc).__name__}: {exc}\n")
        err.flush()
        return ERROR
