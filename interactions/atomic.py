"""Write a file all at once or not at all: a temporary file beside it, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_file(path, mode: int | None = None):
    """Yield a binary file that replaces `path` when the block ends without an exception.

    The data goes to a temporary file in the same folder (a rename is atomic only within one
    file system), is flushed to disk, and is renamed over `path`. If the block raises,
    including KeyboardInterrupt, the temporary file is removed and `path` is left as it was:
    a failed run never leaves half a file for the next step of a pipeline to read. `mode`
    defaults to what a plain open() would give (0o666 less the umask).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
