"""Unpack a model package's archive safely: a flat tar (uncompressed or gzip) of regular files.

The wire format of a deployment (edge/deploy.py) is one tar archive, optionally gzip-compressed
(recognised by gzip's magic bytes, not by a name), holding ``manifest.json``,
``manifest.json.minisig`` and the files the manifest lists, all at the top level. Members may
carry a leading ``./`` (``tar -C DIR -cf - .`` writes them so) and the archive may hold the
``./`` directory entry itself; nothing else.

Nothing here trusts the archive. Every member header is checked before one byte is written
(``check``; ``read_small`` also returns a few small members, read from the payload in memory,
so the manifest's signature is checked before anything reaches the disk), then a second pass
writes regular files only (``unpack``), each with
``O_CREAT | O_EXCL | O_NOFOLLOW`` into a directory this module has just made: tarfile's own
``extract`` is never called. Refused, with a reason fit for a status topic:
absolute paths, ``..``, sub-directories, symlinks, hard links, devices, fifos, sparse files,
duplicate names, more than ``MAX_MEMBERS`` members, and archives that unpack to more than the
byte limit (the limit bounds the decompressed stream itself, so a gzip bomb or a pax header
of a gigabyte stops at the limit; a member whose header declares more is refused unread).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

MAX_MEMBERS = 256  # a package is a manifest, its signature and a handful of files
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_NAME = 255


class ArchiveError(Exception):
    """The archive is refused; ``str(exc)`` is the reason (short, no host paths)."""


def _show(name: str) -> str:
    """A member name fit for a status message (quoted when odd, cut when long)."""
    if name.isprintable() and " " not in name and len(name) <= 80:
        return name
    return repr(name[:80]) + ("..." if len(name) > 80 else "")


class _Bounded(io.RawIOBase):
    """A reader that fails once more than ``limit`` bytes have come through it."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw, self._limit, self.count = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        self.count += n
        if self.count > self._limit:
            raise ArchiveError(f"the archive unpacks to more than {self._limit} bytes")
        return n


class _Memory(io.RawIOBase):
    """A payload in memory read as a file, without the copy io.BytesIO would make."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view, self._pos = memoryview(data).cast("B"), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = max(0, pos if whence == 0 else (self._pos + pos if whence == 1 else len(self._view) + pos))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, b) -> int:  # type: ignore[override]
        chunk = self._view[self._pos:self._pos + len(b)]
        b[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


Source = Path | bytes | bytearray | memoryview


def _open_stream(src: Source, limit: int) -> tuple[BinaryIO, BinaryIO]:
    """(raw file, decompressed stream bounded by ``limit``) of an archive (a path or bytes)."""
    f: BinaryIO = open(src, "rb") if isinstance(src, Path) else io.BufferedReader(_Memory(src))  # type: ignore[assignment]
    head = f.read(2)
    f.seek(0)
    inner: BinaryIO = gzip.GzipFile(fileobj=f, mode="rb") if head == _GZIP_MAGIC else f  # type: ignore[assignment]
    return f, io.BufferedReader(_Bounded(inner, limit), buffer_size=64 * 1024)  # type: ignore[arg-type]


def _members(path: Source, limit: int) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, str | None]]:
    """Each member of the archive with its checked plain name (None for the ``./`` entry).
    Raises ArchiveError on anything that is not a flat archive of regular files."""
    f, stream = _open_stream(path, limit)
    seen: set[str] = set()
    declared = 0
    try:
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for n, member in enumerate(tar, start=1):
                    if n > MAX_MEMBERS:
                        raise ArchiveError(f"more than {MAX_MEMBERS} members in the archive")
                    name = _check(member)
                    if name is not None:
                        if name in seen:
                            raise ArchiveError(f"{_show(name)} appears twice in the archive")
                        seen.add(name)
                        declared += member.size
                        if declared > limit:
                            raise ArchiveError(f"the archive's files declare more than {limit} bytes")
                    yield tar, member, name
        except ArchiveError:
            raise
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            # too short for one tar header: not a tar archive, however tarfile words it
            raise ArchiveError(_why(exc) if seen or isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile))
                               else "not a tar archive") from None
        except OSError:
            raise ArchiveError("the archive cannot be read (damaged or truncated)") from None
        if not seen:
            raise ArchiveError("not a tar archive (no files in it)")
    finally:
        stream.close()
        f.close()


def _why(exc: BaseException) -> str:
    text = str(exc).lower()
    if isinstance(exc, EOFError) or "unexpected end" in text or "truncated" in text or "ended before" in text:
        return "truncated archive"
    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return "damaged gzip stream"
    return "not a tar archive"


def _check(member: tarfile.TarInfo) -> str | None:
    """The member's plain file name; None for the archive's own ``./`` directory entry."""
    raw = member.name
    name = raw[2:] if raw.startswith("./") else raw
    if raw.startswith("/") or raw.startswith("\\") or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveError(f"absolute path {_show(raw)} in the archive")
    parts = raw.replace("\\", "/").split("/")
    if ".." in parts:
        raise ArchiveError(f"path traversal {_show(raw)} in the archive")
    if member.isdir():
        if name.rstrip("/") in ("", "."):
            return None
        raise ArchiveError(f"directory {_show(raw)} in the archive (a package is flat)")
    if member.issym():
        raise ArchiveError(f"symlink {_show(raw)} in the archive")
    if member.islnk():
        raise ArchiveError(f"hard link {_show(raw)} in the archive")
    if member.ischr() or member.isblk() or member.isfifo():
        raise ArchiveError(f"device or fifo {_show(raw)} in the archive")
    if not member.isreg() or member.issparse():
        raise ArchiveError(f"{_show(raw)} is not a regular file")
    if "/" in name or "\\" in name or name in ("", ".") or len(name) > _MAX_NAME or not name.isprintable():
        raise ArchiveError(f"{_show(raw)} is not a plain file name (a package is flat)")
    return name


def check(path: Source, limit: int) -> list[str]:
    """Every member checked, nothing written: the archive's file names."""
    return [name for _, _, name in _members(path, limit) if name is not None]


def read_small(src: Source, wanted: dict[str, int], limit: int) -> dict[str, bytes]:
    """Every member checked, nothing written, and the contents of the ``wanted`` ones (name ->
    the most bytes accepted) that are there: what a signature check needs before a byte of
    the package goes to disk."""
    out: dict[str, bytes] = {}
    for tar, member, name in _members(src, limit):
        if name in wanted:
            if member.size > wanted[name]:
                raise ArchiveError(f"{name} is too large ({member.size} bytes)")
            f = tar.extractfile(member)
            try:
                out[name] = f.read() if f is not None else b""
            except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise ArchiveError(_why(exc)) from None
    return out


def unpack(path: Path, dest: Path, limit: int) -> list[str]:
    """Check the whole archive (``check``), then write its files into ``dest``, which must not
    exist yet (made here, mode 0700 until the caller is done with it). Returns the names."""
    check(path, limit)
    os.mkdir(dest, 0o700)
    names: list[str] = []
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for tar, member, name in _members(path, limit):
        if name is None:
            continue
        src = tar.extractfile(member)
        if src is None:  # pragma: no cover - _check admits regular files only
            raise ArchiveError(f"{_show(name)} has no data")
        with os.fdopen(os.open(dest / name, flags, 0o644), "wb") as out:
            try:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise ArchiveError(_why(exc)) from None
        names.append(name)
    return names
