"""The gallery side: the Gallery protocol, and opening one by URL."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gallery_sync.errors import GalleryRefusal, GalleryUnavailable
from gallery_sync.model import Application, Catalog, GalleryState, Operation

# The embedded gallery, relative to the config's root (as Terraform keeps .terraform/).
DEFAULT_PATH = ".gallery/gallery.db"


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One atomic write to one asset: the operations, and the revision they were planned on."""

    account: str
    asset_id: str
    expected_revision: int | None  # None: the asset must not exist yet
    operations: tuple[Operation, ...]
    accepted_agreements: frozenset[str] = frozenset()
    plan_hash: str = ""
    message: str = ""
    covers: Mapping[str, bytes] = field(default_factory=dict)  # sha256 -> image bytes


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    time: str
    account: str
    asset: str
    change: dict[str, Any]
    plan_hash: str
    message: str


class Gallery(Protocol):
    """What plan and apply need of a gallery, whatever stores it."""

    url: str

    def account(self) -> str | None:
        """The account the credentials belong to; None where the gallery is single-user."""

    def catalog(self) -> Catalog: ...

    def read_state(self) -> GalleryState: ...

    def write_asset(self, request: WriteRequest) -> int:
        """Apply the operations atomically; return the new revision or raise GalleryRefusal."""

    def write_assets(
        self, requests: Sequence[WriteRequest]
    ) -> Iterator[list[int | GalleryRefusal]]:
        """Each write atomic on its own, committed in batches: yields each committed batch's
        outcomes (new revision or refusal), in request order."""

    def history(self, asset_id: str | None = None) -> list[AuditEntry]: ...

    def add_application(self, app: Application) -> str:
        """Register an AI application; return "added", "updated" or "unchanged"."""

    def close(self) -> None: ...


def _open_sqlite(url: str, create: bool) -> Gallery:
    from gallery_sync.gallery.local import LocalGallery

    return LocalGallery.open(url, create=create)


def _open_postgresql(url: str, create: bool) -> Gallery:
    # psycopg is imported only here: the embedded path and --help never pay for it.
    from gallery_sync.gallery.postgres import PostgresGallery

    return PostgresGallery.open(url, create=create)


def _refuse_served(url: str, create: bool) -> Gallery:
    raise GalleryUnavailable(
        f"cannot open {url}: served galleries (http://, https://) are not supported by this "
        "version yet; use the embedded gallery (sqlite:///PATH)"
    )


OPENERS: dict[str, Callable[[str, bool], Gallery]] = {
    "sqlite": _open_sqlite,
    "postgresql": _open_postgresql,
    "http": _refuse_served,
    "https": _refuse_served,
}


def default_url(root: str | os.PathLike[str] | None = None) -> str:
    """The embedded gallery of the config rooted at `root` (the current directory if None)."""
    from pathlib import Path

    path = Path(root if root is not None else ".") / DEFAULT_PATH
    return f"sqlite:///{path}"


def open_gallery(
    url: str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    create: bool = False,
) -> Gallery:
    """The gallery at `url`, else GALLERY_URL, else the embedded gallery of the config root.

    Only commands that write pass `create=True`; for the others a missing embedded gallery is
    GalleryUnavailable saying how one is made, and nothing is created on disk.
    """
    if url is None:
        url = os.environ.get("GALLERY_URL")
    if url is None:
        url = default_url(root)
    if not url.strip():
        raise GalleryUnavailable(
            "the gallery URL is empty; pass --gallery sqlite:///PATH, or unset GALLERY_URL to use "
            "the embedded gallery"
        )
    scheme = url.partition("://")[0] if "://" in url else ""
    opener = OPENERS.get(scheme)
    if opener is None:
        raise GalleryUnavailable(
            f"unknown gallery URL {url!r}; expected sqlite:///PATH, postgresql://HOST/DATABASE "
            "(or http(s)://HOST)"
        )
    return opener(url, create)
