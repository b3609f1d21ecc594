"""Errors about rule data, importable without the YAML stack."""

from __future__ import annotations

from collections import namedtuple


class Problem(namedtuple("Problem", "path line message")):
    """One problem in the rule data, at a file and line."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class RulesError(Exception):
    """The rule set has problems; no checking is possible."""

    def __init__(self, problems):
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.message))
        super().__init__(f"{len(self.problems)} problem(s) in the rules")
