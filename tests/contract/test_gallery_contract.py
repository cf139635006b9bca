"""What every Gallery must do, whoever calls it: one set of tests, run by each implementation
by subclassing (as fsspec's abstract tests are). The gallery service runs it here over the
SQLite store (the embedded gallery) and over PostgreSQL; the HTTP client (against a real
`serve`) subclasses GalleryContract the same way."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import Gallery, Principal, Role, WriteRequest, open_gallery
from gallery_sync.gallery.service import GalleryService, Store
from gallery_sync.model import Application, Operation, OpKind

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}
PNG = b"\x89PNG\r\n\x1a\n" + b"c" * 16
COVER = hashlib.sha256(PNG).hexdigest()

# As: the gallery as one account (None: anonymous) sees it.
As = Callable[[str | None], Gallery]


def asset(visibility: object = "only_me", **more: object) -> dict[str, object]:
    return {"title": "T", "visibility": visibility, "versions": {"1.0.0": V1}, **more}


def create(g: Gallery, asset_id: str, body: dict[str, object], **kw: object) -> int:
    request = WriteRequest(
        asset_id,
        None,
        (Operation(OpKind.CREATE, value=body),),
        AGREED,
        **kw,  # type: ignore[arg-type]
    )
    [[outcome]] = list(g.write_assets([request]))
    if isinstance(outcome, GalleryRefusal):
        raise outcome
    return outcome


def refusal(g: Gallery, request: WriteRequest) -> str:
    [[outcome]] = list(g.write_assets([request]))
    assert isinstance(outcome, GalleryRefusal), outcome
    return outcome.code


APPS = (Application("app", "cn-north-4"), Application("app2", "cn-north-4"))


class GalleryContract:
    """Subclass and implement the `as_` fixture: a gallery seen through `as_(account)` for
    any account, each account holding applications app/app2 in cn-north-4 (applications
    belong to an account)."""

    @pytest.fixture
    def as_(self, tmp_path: Path) -> As:
        raise NotImplementedError

    # --- read_state: the caller's own assets, stubs for others' it names ---------------

    def test_read_state_holds_the_callers_assets_and_only_stubs_of_others(self, as_: As) -> None:
        create(as_("acme"), "flowers", asset())
        create(as_("other"), "secret", asset(description="hidden"))
        state = as_("acme").read_state(["flowers", "secret", "nowhere"])
        assert sorted(state.assets) == ["flowers", "secret"]
        stub = state.assets["secret"]
        assert (stub.publisher, stub.title, stub.versions) == ("other", "", ())
        assert sorted(as_("acme").read_state().assets) == ["flowers"]  # no ids: no stubs

    def test_anonymous_callers_have_no_state(self, as_: As) -> None:
        create(as_("acme"), "flowers", asset("public"))
        assert as_(None).read_state(["flowers"]).assets == {}

    def test_read_state_same_as_gives_what_a_whole_read_gives(self, as_: As) -> None:
        """An asset the caller wants in the state the gallery holds is answered from the
        wanted one at the gallery's revision; the rest as read_state reads it."""
        g = as_("acme")
        for name in ("flowers", "tulips", "roses"):
            create(g, name, asset())
        create(as_("other"), "secret", asset())
        ids = ["flowers", "tulips", "roses", "secret", "new"]
        whole = g.read_state(ids).assets
        as_config_has_it = whole["flowers"].at_revision(0)
        wanted = {
            "flowers": as_config_has_it,
            "tulips": replace(as_config_has_it, id="tulips", title="Changed"),
            "secret": replace(as_config_has_it, id="secret"),  # another publisher's
            "new": replace(as_config_has_it, id="new"),
        }
        assert g.read_state(ids, same_as=wanted).assets == whole
        assert g.read_state(ids, same_as={}).assets == whole
        assert as_(None).read_state(ids, same_as=wanted).assets == {}

    # --- writes: as the principal, never the request -----------------------------------

    def test_a_write_is_made_as_the_callers_account(self, as_: As) -> None:
        assert create(as_("acme"), "flowers", asset()) == 1
        assert as_("acme").read_state().assets["flowers"].publisher == "acme"
        [entry] = as_("acme").history("flowers")
        assert entry.account == "acme"

    def test_another_publishers_asset_is_refused_and_nothing_written(self, as_: As) -> None:
        create(as_("acme"), "flowers", asset())
        update = Operation(OpKind.UPDATE_FIELDS, value={"title": "Mine"})
        code = refusal(as_("mallory"), WriteRequest("flowers", 1, (update,), AGREED))
        assert code == "asset-owned-by-other"
        assert as_("acme").read_state().assets["flowers"].title == "T"

    def test_a_stale_revision_is_a_conflict(self, as_: As) -> None:
        create(as_("acme"), "flowers", asset())
        update = Operation(OpKind.UPDATE_FIELDS, value={"title": "Two"})
        assert refusal(as_("acme"), WriteRequest("flowers", 7, (update,), AGREED)) == "conflict"

    def test_an_anonymous_write_is_refused(self, as_: As) -> None:
        create_op = Operation(OpKind.CREATE, value=asset())
        code = refusal(as_(None), WriteRequest("flowers", None, (create_op,), AGREED))
        assert code == "unauthenticated"
        assert as_("acme").read_state(["flowers"]).assets == {}

    # --- history: a publisher sees its own assets' entries -------------------------------

    def test_history_shows_a_publisher_its_own_assets_entries_only(self, as_: As) -> None:
        create(as_("acme"), "flowers", asset("public"))
        create(as_("other"), "tulips", asset("public"))
        assert [e.asset for e in as_("acme").history()] == ["flowers"]
        assert [e.asset for e in as_("other").history()] == ["tulips"]
        assert as_("other").history("flowers") == []
        assert as_(None).history() == []

    # --- covers: only of an asset the caller may see ---------------------------------------

    def test_a_cover_is_read_only_by_who_may_see_an_asset_using_it(self, as_: As) -> None:
        body = asset({"specific_users": ["bob"]}, cover=COVER)
        create(as_("acme"), "flowers", body, covers={COVER: PNG})
        assert as_("acme").cover(COVER) == PNG
        assert as_("bob").cover(COVER) == PNG
        assert as_("eve").cover(COVER) is None
        assert as_(None).cover(COVER) is None
        assert as_("acme").cover("0" * 64) is None

    # --- catalog: targeted look-ups -----------------------------------------------------

    def test_catalog_looks_up_the_applications_asked_for(self, as_: As) -> None:
        catalog = as_("acme").catalog([("cn-north-4", "app")])
        assert dict(catalog.applications) == {
            ("cn-north-4", "app"): Application("app", "cn-north-4")
        }
        assert catalog.agreements == AGREED and "ocr" in catalog.categories
        assert dict(as_("acme").catalog(()).applications) == {}

    def test_a_version_may_use_only_its_publishers_applications(self, as_: As) -> None:
        assert as_("acme").add_application(Application("mine", "cn-north-4")) == "added"
        body = asset(versions={"1.0.0": {**V1, "ai_application": "mine"}})
        create_op = Operation(OpKind.CREATE, value=body)
        code = refusal(as_("other"), WriteRequest("theirs", None, (create_op,), AGREED))
        assert code == "application-not-found"
        assert create(as_("acme"), "flowers", body) == 1
        assert ("cn-north-4", "mine") in as_("acme").catalog().applications
        assert ("cn-north-4", "mine") not in as_("other").catalog().applications
        assert dict(as_(None).catalog().applications) == {}

    def test_subscribers_of_an_asset_nobody_subscribed_to(self, as_: As) -> None:
        create(as_("acme"), "flowers", asset("public"))
        summary = as_("acme").subscribers("flowers")
        assert (summary.count, summary.last_end) == (0, None)


def services(store: Store) -> As:
    """The gallery service over `store` as each account would reach it through a server
    (a publisher's token; None: no token); an account's applications are registered the
    first time it is seen."""
    seen: set[str] = set()

    def as_(account: str | None) -> Gallery:
        role = Role.PUBLISHER if account is not None else None
        service = GalleryService(store, Principal(account, role))
        if account is not None and account not in seen:
            seen.add(account)
            for app in APPS:
                service.add_application(app)
        return service

    return as_


class TestEmbeddedGallery(GalleryContract):
    """The gallery service over the SQLite store, with principals as a server would give."""

    @pytest.fixture
    def as_(self, tmp_path: Path) -> Iterator[As]:
        opened = open_gallery(f"sqlite:///{tmp_path / 'g.db'}", create=True)
        assert isinstance(opened, GalleryService)
        yield services(opened.store)
        opened.close()


class TestPostgresGallery(GalleryContract):
    """The gallery service over the PostgreSQL store, as `serve` on PostgreSQL uses it."""

    @pytest.fixture
    def as_(self, pg_url: str) -> Iterator[As]:
        opened = open_gallery(pg_url, create=True)
        assert isinstance(opened, GalleryService)
        assert type(opened.store).__name__ == "PostgresStore"
        yield services(opened.store)
        opened.close()
