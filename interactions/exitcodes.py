"""Decide the process exit code in one place."""

from __future__ import annotations

OK = 0
FINDINGS = 1
ERROR = 2
INCOMPLETE = 3
INTERRUPTED = 130  # 128 + SIGINT, the shell convention for Ctrl-C
PIPE_CLOSED = 141  # 128 + SIGPIPE: the reader of the output went away ("| head")


def exit_code(report, fail_on: str = "minor") -> int:
    """Return the exit code for a produced report.

    | code | meaning                                                                     |
    |------|-----------------------------------------------------------------------------|
    | 0    | every name resolved and no finding at or above `fail_on`                    |
    | 1    | a finding at or above `fail_on`                                             |
    | 2    | no report: usage error, unreadable input, invalid rules, internal error     |
    |      | (decided by the caller; an unexpected exception never exits 1)              |
    | 3    | a report was produced but it is incomplete (a name is unresolved or only    |
    |      | partly recognised) and there is no finding at or above `fail_on`            |
    | 130  | interrupted by Ctrl-C (decided by the caller, like 2)                       |
    | 141  | the reader of the output went away, e.g. `| head` (decided by the caller)   |
    """
    if report.fails(fail_on):
        return FINDINGS
    if not report.complete:
        return INCOMPLETE
    return OK


def batch_exit_code(any_failing: bool, any_error: bool, any_incomplete: bool) -> int:
    """Return the exit code for a batch run.

    | code | meaning                                      |
    |------|----------------------------------------------|
    | 1    | any record has a finding at or above fail-on |
    | 2    | otherwise, any record errored                |
    | 3    | otherwise, any record was incomplete         |
    | 0    | otherwise                                    |
    """
    if any_failing:
        return FINDINGS
    if any_error:
        return ERROR
    if any_incomplete:
        return INCOMPLETE
    return OK
