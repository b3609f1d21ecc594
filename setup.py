"""Build hook: compile the hot modules with Cython when a C compiler is there; pure Python otherwise.

Everything else about the package is in pyproject.toml. The compiled modules
are the same source files (engine, formatters, batch, inputs) turned into C extensions:
the same output (tests/test_build.py), about 1.3-1.5x the checks per second.
When Cython cannot translate them, a C compiler is missing, or a compile fails,
the wheel ships the .py files and says so on stderr; nothing else changes.
INTERACTIONS_PURE_PYTHON=1 skips compiling on purpose. Cython itself is a
build requirement (pyproject.toml), fetched like setuptools.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HOT_MODULES = ["interactions/engine.py", "interactions/formatters.py", "interactions/batch.py", "interactions/inputs.py"]

# Plain Python semantics: annotations are documentation, never C types (a `tuple`
# annotation would otherwise reject a list at run time in the compiled build only).
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "embedsignature": True}


def _say(message: str) -> None:
    print(f"interactions build: {message}", file=sys.stderr)


def extensions() -> list:
    if os.environ.get("INTERACTIONS_PURE_PYTHON"):
        _say("INTERACTIONS_PURE_PYTHON is set; installing the pure-Python modules")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _say("Cython is not available; installing the pure-Python modules")
        return []
    try:
        return cythonize(HOT_MODULES, compiler_directives=DIRECTIVES, build_dir="build/cython", quiet=True)
    except Exception as exc:  # a Cython release that rejects the source must not break the install
        _say(f"Cython could not translate the modules ({exc}); installing the pure-Python modules")
        return []


class OptionalBuildExt(build_ext):
    """Compile what can be compiled; a module that fails stays pure Python."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = min(len(HOT_MODULES), os.cpu_count() or 1)

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all (DistutilsPlatformError and the like)
            _say(f"no C extension built ({exc}); installing the pure-Python modules")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a missing Python.h
            _say(f"{ext.name} not compiled ({exc}); it stays pure Python")


if __name__ == "__main__":  # pip's build backend and `python setup.py` both run it as __main__
    setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
