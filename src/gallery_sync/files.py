"""Reading a file the user named: a regular file only, never more than a bound, never a hang."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from gallery_sync.errors import GallerySyncError


class FileRefused(GallerySyncError):
    """A named file could not be read as a bounded regular file; `reason` says which way."""

    def __init__(self, path: str | Path, reason: str, message: str) -> None:
        self.path = str(path)
        # "missing" | "not-regular" | "unreadable" | "too-large" | "symlink" (follow=False)
        self.reason = reason
        super().__init__(message)


_OPEN = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_regular(
    path: str | Path,
    *,
    limit: int,
    what: str = "file",
    shown: str | None = None,
    follow: bool = True,
) -> bytes:
    """The bytes of `path`, refused (FileRefused) unless it is a regular file of <= limit bytes.

    Opened with O_NONBLOCK so that a FIFO named by mistake or malice cannot block the open, and
    checked with fstat on the open descriptor, so the file read is the file checked. `/dev/zero`
    and other devices are refused before a byte is read. Messages name the file as `shown`
    (default: the path), e.g. as the user wrote it. With follow=False a symlink is not
    followed (O_NOFOLLOW) but refused, reason "symlink", for the caller to resolve and check.
    """
    shown = str(path) if shown is None else shown
    if not follow and not _NOFOLLOW and os.path.islink(path):  # a system without O_NOFOLLOW
        raise FileRefused(path, "symlink", f"{what} {shown} is a symbolic link")
    try:
        fd = os.open(path, _OPEN if follow else _OPEN | _NOFOLLOW)
    except FileNotFoundError:
        raise FileRefused(path, "missing", f"{what} {shown} not found") from None
    except ValueError:  # "embedded null byte": no file system has such a name
        raise FileRefused(
            path, "unreadable", f"cannot read {what} {shown}: a file name cannot hold a NUL"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise FileRefused(path, "symlink", f"{what} {shown} is a symbolic link") from None
        if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP):
            raise FileRefused(path, "missing", f"{what} {shown} not found") from None
        if exc.errno == errno.EISDIR:
            raise FileRefused(
                path, "not-regular", f"{what} {shown} is a directory, not a file"
            ) from None
        raise FileRefused(
            path, "unreadable", f"cannot read {what} {shown}: {exc.strerror}"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(
                path, "not-regular", f"{what} {shown} is {_kind(info.st_mode)}, not a regular file"
            )
        if info.st_size > limit:
            raise FileRefused(
                path,
                "too-large",
                f"{what} {shown} is {info.st_size:,} bytes; the limit is {limit:,}",
            )
        chunks = []
        left = limit + 1  # one byte more than allowed tells a file that grew while read
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise FileRefused(
            path, "unreadable", f"cannot read {what} {shown}: {exc.strerror}"
        ) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileRefused(
            path, "too-large", f"{what} {shown} is over {limit:,} bytes; the limit is {limit:,}"
        )
    return data


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"
