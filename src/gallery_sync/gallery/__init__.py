"""The gallery side: who calls (Principal), the Gallery and Admin protocols, opening by URL."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gallery_sync.errors import GalleryRefusal, GalleryUnavailable
from gallery_sync.model import Application, Asset, Catalog, GalleryState, Operation
from gallery_sync.model import SubscriberSummary as SubscriberSummary  # a gallery's answer

if TYPE_CHECKING:
    from gallery_sync.gallery.service import Store

# The embedded gallery, relative to the config's root (as Terraform keeps .terraform/).
DEFAULT_PATH = ".gallery/gallery.db"


class Role(str, enum.Enum):
    PUBLISHER = "publisher"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls the gallery: the gallery side takes the account from here, never from a
    request. The server makes one from a token; the CLI from the config it runs."""

    account: str | None  # None: anonymous (or, local, the embedded gallery's operator)
    role: Role | None = None
    local: bool = False  # the embedded gallery's single user: sees everything

    @classmethod
    def embedded(cls, account: str | None = None) -> Principal:
        """The embedded gallery's user: writing as `account` (plan/apply: the config's
        publisher.account), or, without one, reading everything and writing only the catalog."""
        return cls(account, Role.PUBLISHER if account is not None else None, local=True)


# show, history, import, apps: the embedded gallery read (and its catalog kept) by its owner.
LOCAL = Principal.embedded()


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One atomic write to one asset: the operations, and the revision they were planned on.
    It names no account: the gallery writes as the principal that opened it."""

    asset_id: str
    expected_revision: int | None  # None: the asset must not exist yet
    operations: tuple[Operation, ...]
    accepted_agreements: frozenset[str] = frozenset()
    plan_hash: str = ""
    message: str = ""
    covers: Mapping[str, bytes] = field(default_factory=dict)  # sha256 -> image bytes


# What write_assets returns: each committed batch's outcomes; send(True) to stop.
WriteBatches = Generator[list[int | GalleryRefusal], bool | None, None]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    time: str
    account: str
    asset: str
    change: dict[str, Any]
    plan_hash: str
    message: str


@dataclass(frozen=True, slots=True)
class Token:
    """An API token as a store keeps it: never the token itself, only its hash."""

    id: int
    account: str
    role: str
    created_at: str
    revoked_at: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class Subscription:
    """An account's subscription to an asset: its running term (SPEC section 7)."""

    asset: str
    account: str
    started_at: str
    ends_at: str | None  # None: the term never ends
    auto_renew: bool  # whether it may still renew at its end (the asset's limit decides)


class Admin(Protocol):
    """The operator's side of a gallery: what only an operator may change."""

    def categories(self) -> frozenset[str]: ...

    def agreements(self) -> frozenset[str]: ...

    def allowed_registries(self) -> tuple[str, ...]: ...

    def set_allowed_registries(self, patterns: list[str]) -> None:
        """The registries container images may come from (fnmatch patterns, e.g. swr.*.com)."""


class Gallery(Protocol):
    """Everything the engine and the CLI use of a gallery, whatever stores or serves it. What
    it returns is what its principal may see; what it writes, it writes as its principal."""

    url: str

    def account(self) -> str | None:
        """The account the credentials belong to; None where the gallery is single-user."""

    def catalog(self, applications: Collection[tuple[str, str]] | None = None) -> Catalog:
        """Taxonomy, agreements, image policy, and the applications with these (region, name)
        keys (all of them for None). An unknown key brings the whole list along, so that the
        rules can say which application was probably meant."""

    def read_state(
        self, ids: Collection[str] = (), *, same_as: Mapping[str, Asset] | None = None
    ) -> GalleryState:
        """The caller's own assets, plus, for each of `ids` another publisher holds, a stub
        naming its owner (so that plan can say asset-owned-by-other). Without an account (the
        embedded gallery's reader): every asset. `same_as` (the assets a plan wants): an asset
        whose kept state digest is its digest is not read, but given as it is there, at the
        gallery's revision (GalleryState.completed)."""

    def write_assets(self, requests: Sequence[WriteRequest]) -> WriteBatches:
        """Each write atomic on its own, committed in batches: yields each committed batch's
        outcomes (new revision or refusal), in request order. `send(True)` asks it to stop:
        it begins no further batch, and yields only those already under way."""

    def history(self, asset_id: str | None = None) -> list[AuditEntry]:
        """The audit log, newest first: a publisher sees its own assets' entries only."""

    def cover(self, sha256: str) -> bytes | None:
        """The image of a cover an asset the caller may see uses; None otherwise."""

    def subscribers(self, asset_id: str) -> SubscriberSummary:
        """Who keeps access to the asset if it is discontinued (its owner asks)."""

    def add_application(self, app: Application) -> str:
        """Register an AI application; return "added", "updated" or "unchanged"."""

    def report_drift(self, findings: Mapping[str, Sequence[str]], commit: str = "") -> list[str]:
        """Record what a reconciler (SPEC 9) found about the caller's own assets at `commit`:
        asset -> the fields that differ from git (empty: in step). Only changes of state are
        written (audit kinds "drift" and "in-step"); returns the assets recorded. An asset that
        is not the caller's: not-found, and nothing is written."""

    def admin(self) -> Admin | None:
        """The operator's side, for a principal that may operate it; None otherwise."""

    def close(self) -> None: ...


def _sqlite_store(url: str, create: bool) -> Store:
    from gallery_sync.gallery.local import SqliteStore

    return SqliteStore.open(url, create=create)


def _postgresql_store(url: str, create: bool) -> Store:
    # psycopg is imported only here: the embedded path and --help never pay for it.
    from gallery_sync.gallery.postgres import PostgresStore

    return PostgresStore.open(url, create=create)


STORES: dict[str, Callable[[str, bool], Store]] = {
    "sqlite": _sqlite_store,
    "postgresql": _postgresql_store,
    "postgres": _postgresql_store,
}


def shown_url(url: str) -> str:
    """A store URL fit for a message or a log line: without its password."""
    import re

    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def open_store(url: str, *, create: bool = False) -> Store:
    """The store at `url` itself (the operator's `admin` and `serve`), no principal in front:
    migrated to this version's schema; created only if `create`."""
    opener = STORES.get(url.partition("://")[0] if "://" in url else "")
    if opener is None or not url.strip():
        raise GalleryUnavailable(
            f"unknown store URL {shown_url(url)!r}; expected sqlite:///PATH or "
            "postgresql://HOST/DATABASE"
        )
    return opener(url, create)


def _open_sqlite(url: str, create: bool, principal: Principal) -> Gallery:
    from gallery_sync.gallery.service import GalleryService

    return GalleryService(_sqlite_store(url, create), principal, keep_catalog=create)


def _open_postgresql(url: str, create: bool, principal: Principal) -> Gallery:
    from gallery_sync.gallery.service import GalleryService

    return GalleryService(_postgresql_store(url, create), principal, keep_catalog=create)


def _open_http(url: str, create: bool, principal: Principal) -> Gallery:
    # Who calls is the token's (GALLERY_TOKEN), never the principal the CLI would give.
    from gallery_sync.gallery.http import HttpGallery

    return HttpGallery(url)


OPENERS: dict[str, Callable[[str, bool, Principal], Gallery]] = {
    "sqlite": _open_sqlite,
    "postgresql": _open_postgresql,
    "http": _open_http,
    "https": _open_http,
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
    principal: Principal = LOCAL,
) -> Gallery:
    """The gallery at `url`, else GALLERY_URL, else the embedded gallery of the config root,
    as `principal` sees it (the embedded gallery: as the CLI says; served: as its token says).

    Only commands that write pass `create=True`; for the others a missing embedded gallery is
    GalleryUnavailable saying how one is made, and nothing is created on disk. A writer's
    gallery keeps the catalog its plan read for the writes that follow (GalleryService).
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
    return opener(url, create, principal)
