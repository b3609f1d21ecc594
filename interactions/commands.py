"""What the `check` command does, without click: shared by the click command and the plain fast path.

Everything here writes to the streams it is given and returns an exit code;
nothing calls sys.exit, so both callers stay in charge of the process.
"""

from __future__ import annotations

import os
from collections import namedtuple

from .exitcodes import ERROR, INTERRUPTED, PIPE_CLOSED, exit_code
from .vocab import LazyPattern

# What click.echo(color=False) strips: CSI sequences.
_ANSI = LazyPattern(r"\x1b\[[;?0-9]*[a-zA-Z]")


class CommandError(Exception):
    """A user-facing failure: printed as 'interactions: <message>', exit code 2."""


class CheckOptions(namedtuple(
    "CheckOptions", "medications input_file previous_file fmt fail_on rules_dir age egfr as_of color brief explain",
    defaults=((), None, None, "text", "minor", None, None, None, None, None, False, False),
)):
    """Everything the `check` command was asked for, from click or from the plain fast path.

    `input_file` and `previous_file` are open binary streams or None; `as_of` is a date or None;
    `color` is True, False or None (decide from the terminal).
    """

    __slots__ = ()


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


def check_command(options: CheckOptions, out, err) -> int:
    """Run one check as the command line does; write the report to `out` and return the exit code."""
    from .engine import check
    from .formatters import FORMATTERS
    from .inputs import InputError, combine, parse_arguments, parse_input, parse_previous
    from .model import CheckRequest, ParsedInput

    try:
        parsed = ParsedInput(request=CheckRequest(medications=()))
        if options.input_file is not None:
            as_of = options.as_of
            if as_of is None:
                from datetime import date

                as_of = date.today()
            parsed = parse_input(read_limited(options.input_file), stream_name(options.input_file), as_of)
        previous = None
        if options.previous_file is not None:
            previous = parse_previous(read_limited(options.previous_file), stream_name(options.previous_file))
        request = combine(parse_arguments(options.medications), parsed, previous, options.age, options.egfr)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    report = check(load(options.rules_dir, err), request, parsed.skipped, parsed.notes)
    colored = use_color(options.color, out) and options.fmt == "text"
    text = FORMATTERS[options.fmt](report, color=colored, brief=options.brief, explain=options.explain)
    if not colored and "\x1b" in text:
        # Never pass escape sequences from names (e.g. a FHIR display) to a terminal uncoloured.
        text = _ANSI.sub("", text)
    try:
        if options.fmt == "json" and hasattr(out, "buffer"):
            out.flush()
            out.buffer.write(text.encode("utf-8"))  # JSON is UTF-8 whatever the console's encoding
        else:
            out.write(fit_encoding(text, out))
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise CommandError(f"cannot write the report: {exc.strerror or exc}") from None
    return exit_code(report, options.fail_on)


# What a legacy console (cp1252, ASCII) cannot show, in plain ASCII.
_ASCII_FALLBACK = str.maketrans({"→": "->", "←": "<-", "≥": ">=", "≤": "<=", "—": "-", "–": "-", "§": "s.", "“": '"', "”": '"',
                                 "‘": "'", "’": "'", "…": "...", "µ": "u", "×": "x", "·": "-"})


def fit_encoding(text: str, stream) -> str:
    """Return `text` as `stream` can write it: arrows and quotes fall back to ASCII on a legacy console encoding."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.translate(_ASCII_FALLBACK).encode(encoding, errors="replace").decode(encoding)
    except LookupError:
        return text


def guarded(run, err) -> int:
    """Run `run()`; a CommandError exits 2 with its message, Ctrl-C exits 130, any other exception is an internal error (2)."""
    try:
        return run()
    except CommandError as exc:
        err.write(f"interactions: {exc}\n")
        err.flush()
        return ERROR
    except KeyboardInterrupt:
        return interrupted(err)
    except BrokenPipeError:
        return pipe_closed()
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract is "no report" = 2
        err.write(f"interactions: internal error: {type(exc).__name__}: {exc}\n")
        err.flush()
        return ERROR


def pipe_closed() -> int:
    """The reader went away (`| head`): stop quietly with the shell's SIGPIPE status, 141.

    Standard output is pointed at /dev/null so that the interpreter's final flush cannot
    print an error of its own.
    """
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return PIPE_CLOSED


def interrupted(err) -> int:
    """Say, in one line, that Ctrl-C stopped the command; return 130 (128 + SIGINT), never 1 (findings)."""
    try:
        err.write("interactions: interrupted\n")
        err.flush()
    except (OSError, ValueError):
        pass
    return INTERRUPTED
