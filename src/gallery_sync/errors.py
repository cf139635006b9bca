"""The exception root of gallery-sync and its few children: failures that stop a command."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gallery_sync.diagnostics import Diagnostic


class GallerySyncError(Exception):
    """A failure that stops a command; shown to the user as one line, never a traceback."""

    code = "error"


class UsageError(GallerySyncError):
    """The command was called in a way it cannot honour (bad URL, missing TTY, ...)."""

    code = "usage"


class GalleryUnavailable(GallerySyncError):
    """The gallery could not be opened or read."""

    code = "gallery-unavailable"


class StoreError(GallerySyncError):
    """The store could not keep a write (disk, lock, constraint); nothing of it was kept."""

    code = "gallery-error"


class GalleryRefusal(GallerySyncError):
    """The gallery refused a write; carries the diagnostics that say why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0]
        self.code = first.code
        super().__init__("; ".join(f"{d.code}: {d.message}" for d in diagnostics))
