"""Opening a media source: a path, bytes or a binary file, with its name, type and size checked.

Every way of failing to open a file is a ``MediaError`` whose message is one line naming the
file, ``"<basename>: <reason>"``: missing, not a file, an unsupported extension, empty, over
``limits.MAX_FILE_BYTES``, not media at all, or media that is truncated or corrupt. Decoding
what was opened is ``decode.py``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Union

import av

from dgl_engine import limits

SUPPORTED_VIDEO = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".flv", ".mpg", ".mpeg")
SUPPORTED_AUDIO = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
SUPPORTED_IMAGE = (".png", ".jpg", ".jpeg")
DEFAULT_MAX_BYTES = limits.MAX_FILE_BYTES

Source = Union[str, os.PathLike, bytes, bytearray, BinaryIO]


class MediaError(ValueError):
    """A file could not be read; the message is one line, ``"<basename>: <reason>"``."""


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def _fmt_size(n: float) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.0f} MB" if n >= 10 * 2**20 else f"{n / 2**20:.1f} MB"
    if n >= 2**10:
        return f"{n / 2**10:.0f} KB"
    return f"{int(n)} bytes"


def open_source(source: Source, name: str | None, max_bytes: int | None) -> tuple[object, str, int]:
    """-> (a path string or a seekable binary file, basename, size in bytes). Checks the
    type, existence, extension and size."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "upload"
        handle: object = io.BytesIO(bytes(source))
        size = len(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or path.name
        if not path.exists():
            raise MediaError(f"{name}: file not found")
        if not path.is_file():
            raise MediaError(f"{name}: not a file")
        handle, size = str(path), path.stat().st_size
    elif hasattr(source, "read"):
        name = name or os.path.basename(str(getattr(source, "name", "") or "upload"))
        if getattr(source, "seekable", lambda: False)():
            # FFmpeg seeks to absolute offsets, so a file object is read from its start.
            size = source.seek(0, io.SEEK_END)
            source.seek(0)
            handle = source
        else:  # a pipe: read it (one byte past the limit is enough to know it is too big)
            data = source.read(-1 if max_bytes is None else max_bytes + 1)
            handle, size = io.BytesIO(data), len(data)
    else:
        raise TypeError(f"expected a path, bytes or a binary file, got {type(source).__name__}")
    ext = os.path.splitext(name)[1].lower()
    if ext not in SUPPORTED_VIDEO + SUPPORTED_AUDIO + SUPPORTED_IMAGE:
        what = f"'{ext}'" if ext else "(no extension)"
        raise MediaError(
            f"{name}: unsupported file type {what}; supported: "
            + " ".join(SUPPORTED_VIDEO + SUPPORTED_AUDIO + SUPPORTED_IMAGE)
        )
    if size == 0:
        raise MediaError(f"{name}: empty file")
    if max_bytes is not None and size > max_bytes:
        raise MediaError(f"{name}: file is {_fmt_size(size)}, over the {_fmt_size(max_bytes)} limit")
    return handle, name, size


def read_head(handle: object, n: int = 64) -> bytes:
    """The first `n` bytes of a path or a seekable file."""
    if isinstance(handle, str):
        with open(handle, "rb") as f:
            return f.read(n)
    handle.seek(0)
    return handle.read(n)


def looks_like_media(head: bytes) -> bool:
    """True when the first bytes carry a known container signature: a file that starts like
    media but does not open is truncated or corrupt rather than "not media at all"."""
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
        or head.startswith((b"\x1a\x45\xdf\xa3", b"RIFF", b"FLV", b"OggS", b"fLaC", b"ID3"))
        or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"\x89PNG", b"\xff\xd8\xff"))
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG audio sync
    )


def open_container(handle: object, name: str):
    """``av.open`` whose every failure is a one-line MediaError saying which kind it is."""
    try:
        return av.open(handle, metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - every failure becomes a MediaError
        if isinstance(exc, av.error.DecoderNotFoundError):
            raise MediaError(f"{name}: unsupported codec ({one_line(exc)})") from exc
        if looks_like_media(read_head(handle)):
            detail = one_line(getattr(exc, "strerror", None) or exc)
            raise MediaError(f"{name}: truncated or corrupt file ({detail})") from exc
        raise MediaError(f"{name}: not a media file PyAV can read (invalid data)") from exc
