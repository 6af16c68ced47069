"""Writing a file so that readers only ever see the old version or the whole new one.

run.json, model checkpoints and sidecars, feature-cache chunks and sample clips are all
written this way: a process killed mid-write (a cancelled run, Ctrl-C, a full disk) must not
leave a half-written file where a reader (the app polling run.json, the next cache scan)
would take it for a real one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` writes the content to a temporary file next to `path`, which is then
    flushed to disk and renamed over `path` (``os.replace``: atomic on one file system, hence
    the same folder). On any failure, including KeyboardInterrupt, the temporary file is
    removed and `path` is left as it was.

    The temporary name is ``.<name>.<random>.tmp``: hidden, and matching none of the globs
    readers use (``*.pt``, ``chunk-*.pt``, ``*.mp4``), so a leftover from a killed process is
    never read; a writer that picks a format from the file name must be told it. The file
    gets the usual permissions (umask), as a plain ``open(path, "w")`` would give it.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # Claim the name first, outside the try: on a clash, another writer's file is not ours to remove.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the content is on disk before the name points to it
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`text` as UTF-8 into `path` (its folder created if needed), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
