"""The `interactions` executable: a plain `check` runs without importing click; everything else goes to click.

Starting click costs more than the check itself, and scripts run `interactions
check` once per list. So the arguments of the common case (medications, and
the options below with plain values) are read here and handed to the same
function the click command calls. Anything else, including every malformed
argument, goes to the click application, which owns help and error messages.
tests/test_cli.py runs the same command lines through both and compares them.
"""

from __future__ import annotations

import sys

from .vocab import PATIENT_LIMITS, SEVERITIES, LazyPattern

_NUMBER = LazyPattern(r"\d{1,3}(?:\.\d{1,3})?")
_CHOICES = {"--format": ("text", "json"), "--fail-on": SEVERITIES}
_NUMBERS = {"--age": "age", "--egfr": "egfr"}
_FILES = {"--input": "input_file", "-i": "input_file", "--previous": "previous_file"}
_FLAGS = {"--color": ("color", True), "--no-color": ("color", False), "--brief": ("brief", True), "--explain": ("explain", True)}


def plain_check(argv: list) -> dict | None:
    """Return the check command's options (file names unopened) if `argv` is a plain `check` command line, else None."""
    if not argv or argv[0] != "check":
        return None
    found = {"medications": [], "fmt": "text", "fail_on": "minor", "age": None, "egfr": None,
             "input_file": None, "previous_file": None, "color": None, "brief": False, "explain": False}
    seen = set()
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            found["medications"].extend(args[i:])
            break
        if arg == "-":
            return None  # click's reading of a bare '-' is its own business
        if not arg.startswith("-"):
            found["medications"].append(arg)
            continue
        name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS and not has_value:
            key, value = _FLAGS[name]
            found[key] = value
            continue
        if name not in _CHOICES and name not in _NUMBERS and name not in _FILES:
            return None  # --help, --rules, --as-of, a typo...: click's job
        dest = _FILES.get(name, name)  # -i and --input are one option
        if dest in seen:
            return None  # a repeated option: click decides which one wins
        seen.add(dest)
        if not has_value:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        if name in _CHOICES:
            if value not in _CHOICES[name]:
                return None
            found["fmt" if name == "--format" else "fail_on"] = value
        elif name in _NUMBERS:
            low, high = PATIENT_LIMITS[_NUMBERS[name]]
            if not _NUMBER.fullmatch(value) or not low <= float(value) <= high:
                return None
            found[_NUMBERS[name]] = float(value)
        else:
            if not value or value.startswith("-") and value != "-":
                return None
            found[_FILES[name]] = value
    return found


def _open(path: str):
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def main(fast_exit: bool = True) -> None:
    """Run the command line.

    After a plain check the process ends with os._exit once the output is flushed: tearing
    down the interpreter would only free the rule index, object by object (`fast_exit=False`
    raises SystemExit instead, for tests).
    """
    import os

    plain = plain_check(sys.argv[1:]) if "INTERACTIONS_RULES" not in os.environ else None
    if plain is not None and (sys.stdout is None or sys.stderr is None or (sys.stdin is None and "-" in (plain["input_file"], plain["previous_file"]))):
        plain = None  # a closed standard stream: click reports it
    if plain is not None:
        try:
            files = {key: _open(plain[key]) if plain[key] is not None else None for key in ("input_file", "previous_file")}
        except OSError:
            plain = None  # click reports unreadable files in its own words
    if plain is None:
        from .cli import main as click_main

        click_main()
        return
    from .commands import CheckOptions, check_command, guarded, interrupted

    plain.update(files, medications=tuple(plain["medications"]))
    options = CheckOptions(**plain)
    out, err = sys.stdout, sys.stderr
    try:
        code = guarded(lambda: check_command(options, out, err), err)
    except KeyboardInterrupt:  # between the check and the exit
        code = interrupted(err)
    if fast_exit:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            pass  # e.g. a closed pipe: the normal exit path reports it
        else:
            os._exit(code)
    sys.exit(code)
