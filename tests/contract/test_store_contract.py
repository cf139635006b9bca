"""What every store must do (fsspec's abstract-test pattern): StoreContract states it once,
and each store runs it by subclassing (SQLite, PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gallery_sync.errors import GalleryRefusal, GalleryUnavailable, StoreError
from gallery_sync.gallery import Subscription, WriteRequest, migrations, open_gallery
from gallery_sync.gallery.local import SqliteStore
from gallery_sync.gallery.search import WebSession
from gallery_sync.gallery.service import (
    BATCH_SIZE,
    EMBEDDED_ACCOUNT,
    GalleryService,
    StoredWrite,
    compose_catalog,
    write_assets,
)
from gallery_sync.model import (
    Application,
    Asset,
    DurationLimit,
    Operation,
    OpKind,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)
from gallery_sync.rules import Audience

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
COVER = b"\x89PNG a cover"
SHA = hashlib.sha256(COVER).hexdigest()
V = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}
DATA = Path(__file__).parent / "data"


def body(title: str = "Flowers", **more: object) -> dict[str, object]:
    return {"title": title, "visibility": "public", "versions": {"1.0.0": V}, **more}


def create(asset: str, title: str = "Flowers", **more: object) -> WriteRequest:
    op = Operation(OpKind.CREATE, value=body(title, **more))
    covers = {SHA: COVER} if more.get("cover") == SHA else {}
    return WriteRequest(asset, None, (op,), AGREED, "plan1", "made", covers)


def retitle(asset: str, revision: int | None, title: str) -> WriteRequest:
    op = Operation(OpKind.UPDATE_FIELDS, value={"title": title})
    return WriteRequest(asset, revision, (op,), AGREED, "plan2", "retitled")


def write(store: Any, *requests: WriteRequest, account: str = "acme") -> list[int | GalleryRefusal]:
    """The writes as `account`, checked against the embedded catalog's applications."""
    outcomes = write_assets(store, requests, account=account, applications_of=EMBEDDED_ACCOUNT)
    return [outcome for batch in outcomes for outcome in batch]


def catalog_in_transaction(store: Any) -> Any:
    with store.transaction() as tx:
        return compose_catalog(tx, None, EMBEDDED_ACCOUNT)


def read(store: Any, *ids: str) -> dict[str, Asset]:
    with store.transaction() as tx:
        found: dict[str, Asset] = tx.get_assets(ids)
    return found


class StoreContract:
    """The store protocol: write side (transaction), read side, accounts' tables, schema."""

    @pytest.fixture
    def store(self) -> Iterator[Any]:
        raise NotImplementedError

    def reopen(self, store: Any) -> Any:
        return type(store).open(store.url)

    @pytest.fixture(autouse=True)
    def _apps(self, store: Any) -> None:
        store.add_application(Application("app", "cn-north-4"))

    # --- Assets ----------------------------------------------------------------------------

    def test_assets_round_trip_with_versions_and_cover(self, store: Any) -> None:
        more = {
            "cover": SHA,
            "description": "d",
            "categories": ["ocr", "image-classification"],
            "visibility": {"specific_users": ["bob", "al"]},
            "duration_limit": {"days": 30, "auto_renew": True},
            "versions": {"1.10.0": V, "1.9.0": {**V, "description": "old"}},
        }
        assert write(store, create("flowers", **more)) == [1]
        assert read(store, "flowers", "missing") == {
            "flowers": Asset(
                id="flowers",
                publisher="acme",
                title="Flowers",
                versions=(
                    Version("1.9.0", "cn-north-4", "app", "old"),
                    Version("1.10.0", "cn-north-4", "app", ""),
                ),
                cover=SHA,
                description="d",
                categories=("image-classification", "ocr"),
                visibility=Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"al", "bob"})),
                duration_limit=DurationLimit(30, True),
                status=Status.RELEASED,
                revision=1,
            )
        }
        assert store.cover(SHA) == COVER
        assert store.cover("0" * 64) is None
        with store.transaction() as tx:
            assert tx.known_covers([SHA, "0" * 64]) == {SHA}

    def test_each_write_increments_the_revision_and_a_stale_one_is_a_conflict(
        self, store: Any
    ) -> None:
        assert write(store, create("flowers")) == [1]
        assert write(store, retitle("flowers", 1, "Two")) == [2]
        [stale] = write(store, retitle("flowers", 1, "Lost"))
        assert isinstance(stale, GalleryRefusal) and stale.code == "conflict"
        [again] = write(store, create("flowers"))
        assert isinstance(again, GalleryRefusal) and again.code == "conflict"
        assert read(store, "flowers")["flowers"].title == "Two"
        assert read(store, "flowers")["flowers"].revision == 2

    def test_a_savepoint_undoes_only_what_was_written_inside_it(self, store: Any) -> None:
        write(store, create("alpha"), create("bravo"))
        a, b = read(store, "alpha", "bravo").values()
        with store.transaction() as tx:
            with tx.savepoint():
                tx.store([StoredWrite(replace(a, title="A2"), 2, {}, [])])
            with pytest.raises(RuntimeError), tx.savepoint():
                tx.store([StoredWrite(replace(b, title="B2"), 2, {}, [])])
                raise RuntimeError("undo b")
        after = read(store, "alpha", "bravo")
        assert (after["alpha"].title, after["alpha"].revision) == ("A2", 2)
        assert (after["bravo"].title, after["bravo"].revision) == ("Flowers", 1)

    def test_a_write_the_database_refuses_is_a_store_error_and_the_rest_commits(
        self, store: Any
    ) -> None:
        write(store, create("alpha"))
        (a,) = read(store, "alpha").values()
        untitled = replace(a, id="untitled", title=None)  # assets.title is NOT NULL
        with store.transaction() as tx:
            with pytest.raises(StoreError), tx.savepoint():
                tx.store([StoredWrite(untitled, 1, {}, [])])
            with tx.savepoint():
                tx.store([StoredWrite(replace(a, title="A2"), 2, {}, [])])
        after = read(store, "alpha", "untitled")
        assert list(after) == ["alpha"] and after["alpha"].title == "A2"

    def test_a_batch_larger_than_one_transaction_is_stored_whole(self, store: Any) -> None:
        count = BATCH_SIZE + 37
        requests = [create(f"asset-{i:04d}", f"Title {i}") for i in range(count)]
        assert write(store, *requests) == [1] * count
        found = read(store, *(r.asset_id for r in requests))
        assert len(found) == count
        assert found["asset-0536"].title == "Title 536"
        assert len(store.history()) == count

    def test_the_audit_log_is_newest_first_and_by_asset(self, store: Any) -> None:
        write(store, create("alpha"), create("bravo"))
        write(store, retitle("alpha", 1, "A2"))
        entries = store.history()
        assert [(e.asset, e.change["kind"]) for e in entries] == [
            ("alpha", "update-fields"),
            ("bravo", "create"),
            ("alpha", "create"),
        ]
        assert entries[0].id > entries[1].id > entries[2].id
        assert (entries[0].account, entries[0].plan_hash, entries[0].message) == (
            "acme",
            "plan2",
            "retitled",
        )
        assert entries[0].change == {"kind": "update-fields", "value": {"title": "A2"}}
        assert [e.change["kind"] for e in store.history(asset="alpha")] == [
            "update-fields",
            "create",
        ]
        assert store.history(asset="nothing") == []

    def test_reads_by_ids_publisher_page_and_owner(self, store: Any) -> None:
        mine = [create(a) for a in ("alpha", "bravo", "charlie")]
        write(store, *mine)
        write(store, create("zulu", cover=SHA), account="zed")
        assert sorted(store.assets()) == ["alpha", "bravo", "charlie", "zulu"]
        assert sorted(store.assets(publisher="acme")) == ["alpha", "bravo", "charlie"]
        assert sorted(store.assets(ids=["alpha", "zulu", "quebec"], publisher="zed")) == ["zulu"]
        assert sorted(store.assets(cover=SHA)) == ["zulu"]
        assert store.assets(cover=SHA, publisher="acme") == {}
        assert [a.id for a in store.page_assets(None, 2)] == ["alpha", "bravo"]
        assert [a.id for a in store.page_assets("bravo", 2)] == ["charlie", "zulu"]
        assert store.page_assets("zulu", 2) == []
        assert store.owners(["alpha", "zulu", "quebec"]) == {"alpha": "acme", "zulu": "zed"}
        assert [e.asset for e in store.history(publisher="zed")] == ["zulu"]
        newest = store.history(limit=2)
        assert [e.asset for e in newest] == ["zulu", "charlie"]
        assert [e.asset for e in store.history(after_id=newest[-1].id)] == ["bravo", "alpha"]

    # --- Applications, registries ----------------------------------------------------------

    def test_applications_belong_to_an_account(self, store: Any) -> None:
        app = Application(
            "ocr", "cn-north-4", "swr.cn-north-4.myhuaweicloud.com/a/b@sha256:" + "alpha" * 64
        )
        assert store.add_application(app, account="acme") == "added"
        assert store.add_application(app, account="acme") == "unchanged"
        assert store.add_application(app._replace(image=None), account="acme") == "updated"
        key = ("cn-north-4", "ocr")
        assert store.applications([key, ("cn-north-4", "nope")], "acme") == {
            key: Application("ocr", "cn-north-4", None)
        }
        assert store.applications([key], "other") == {}
        assert store.list_applications("acme") == [Application("ocr", "cn-north-4")]
        # The embedded gallery's own catalog is the account '': what plan and apply check.
        assert store.list_applications() == [Application("app", "cn-north-4")]
        catalog = catalog_in_transaction(store)
        assert catalog.application("cn-north-4", "app") == Application("app", "cn-north-4")
        assert catalog.application("cn-north-4", "ocr") is None
        with pytest.raises(GalleryRefusal) as caught:
            store.add_application(Application("bad name", "cn-north-4"))
        assert caught.value.code == "schema"

    def test_a_catalog_change_is_seen_by_the_next_transaction(self, store: Any) -> None:
        assert catalog_in_transaction(store).application("cn-north-4", "app2") is None
        store.add_application(Application("app2", "cn-north-4"))
        store.set_allowed_registries(["docker.io", "swr.*.com"])
        catalog = catalog_in_transaction(store)
        assert catalog.application("cn-north-4", "app2") == Application("app2", "cn-north-4")
        assert catalog.allowed_registries == ("docker.io", "swr.*.com")
        assert "ocr" in catalog.categories and "ai-gallery-service" in catalog.agreements
        with pytest.raises(GalleryRefusal) as caught:
            store.set_allowed_registries([])
        assert caught.value.code == "schema"

    def test_many_keys_find_what_few_find(self, store: Any) -> None:
        for name in ("a1", "a2", "a3"):
            store.add_application(Application(name, "cn-north-4"), account="acme")
        store.add_application(Application("a4", "cn-north-4"), account="other")
        keys = [("cn-north-4", n) for n in ("a1", "a2", "a4", "nope")]
        targeted = store.applications(keys, "acme")
        assert sorted(targeted) == [("cn-north-4", "a1"), ("cn-north-4", "a2")]
        store.LIST_FROM_KEYS = 2  # from 2 keys, the whole list when they are half of it
        assert store.applications(keys, "acme") == targeted
        assert store.applications(keys[:1], "acme") == {keys[0]: Application("a1", "cn-north-4")}

    def test_a_look_up_by_list_streams_and_keeps_the_asking_keys_own_strings(
        self, store: Any
    ) -> None:
        image = "swr.cn-north-4.myhuaweicloud.com/acme/ocr@sha256:" + "a" * 64
        store.add_application(Application("a1", "cn-north-4"), account="acme")
        store.add_application(Application("a2", "cn-north-4", image), account="acme")
        store.add_application(Application("a3", "cn-east-3"), account="acme")
        # Keys made at run time, as a config's are: equal to the rows', not the same objects.
        keys = [
            ("".join(["cn-", r]), "".join(["a", n]))
            for r, n in (("north-4", "1"), ("north-4", "2"), ("east-3", "3"), ("east-3", "9"))
        ]
        targeted = dict(store.applications(keys, "acme"))
        store.LIST_FROM_KEYS, store.ROWS_PER_FETCH = 2, 1  # the whole list, a row a fetch
        listed = store.applications(keys, "acme")
        assert (
            dict(listed)
            == targeted
            == {
                keys[0]: Application("a1", "cn-north-4"),
                keys[1]: Application("a2", "cn-north-4", image),
                keys[2]: Application("a3", "cn-east-3"),
            }
        )
        assert listed.get(keys[3]) is None and keys[3] not in listed and len(listed) == 3
        for key in keys[:3]:
            found = next(k for k in listed if k == key)
            assert found is key  # the key's own tuple and strings, not the rows'
            assert listed[key].name is key[1] and listed[key].region is key[0]

    def test_keys_of_several_regions_in_chunks_find_each_its_own(self, store: Any) -> None:
        for region in ("cn-north-4", "cn-east-3"):
            for name in ("a1", "a2", "a3"):
                store.add_application(Application(f"{name}-{region}", region), account="acme")
        store.add_application(Application("a1-cn-east-3", "cn-north-4"), account="other")
        store.KEYS_PER_QUERY = 2  # several queries per region
        keys = [
            ("cn-north-4", "a1-cn-north-4"),
            ("cn-east-3", "a1-cn-east-3"),
            ("cn-north-4", "a1-cn-east-3"),  # of that name, only in the other region (or account)
            ("cn-east-3", "a2-cn-east-3"),
            ("cn-north-4", "a3-cn-north-4"),
            ("cn-east-3", "a3-cn-east-3"),
        ]
        found = store.applications(keys, "acme")
        assert found == {k: Application(k[1], k[0]) for k in keys if k[1].endswith(k[0])}

    # --- Tokens, subscriptions, idempotency ------------------------------------------------

    def test_tokens_keep_a_hash_and_are_revoked_once(self, store: Any) -> None:
        first = store.create_token("acme", "publisher", "hash-1")
        second = store.create_token("root", "admin", "hash-2")
        assert second > first
        token = store.token("hash-1")
        assert (token.id, token.account, token.role, token.revoked) == (
            first,
            "acme",
            "publisher",
            False,
        )
        assert store.token("hash-3") is None
        assert [(t.id, t.account) for t in store.list_tokens()] == [
            (first, "acme"),
            (second, "root"),
        ]
        assert store.revoke_token(first) is True
        assert store.revoke_token(first) is False
        assert store.revoke_token(second + 100) is False
        assert store.token("hash-1").revoked and store.token("hash-1").revoked_at
        assert not store.token("hash-2").revoked
        with pytest.raises(StoreError):
            store.create_token("eve", "publisher", "hash-2")  # the hash is unique

    def test_subscriptions_are_one_per_asset_and_account(self, store: Any) -> None:
        write(store, create("alpha"), create("bravo"))
        store.subscribe("alpha", "bob", "2030-01-01T00:00:00Z", "2030-01-31T00:00:00Z", True)
        store.subscribe("bravo", "bob", "2030-01-01T00:00:00Z", None, False)
        store.subscribe("alpha", "cy", "2030-01-02T00:00:00Z", None, False)
        store.subscribe("alpha", "bob", "2030-02-01T00:00:00Z", "2030-03-03T00:00:00Z", False)
        by_asset = store.subscriptions(asset="alpha")
        assert [(s.account, s.started_at, s.ends_at, s.auto_renew) for s in by_asset] == [
            ("bob", "2030-02-01T00:00:00Z", "2030-03-03T00:00:00Z", False),
            ("cy", "2030-01-02T00:00:00Z", None, False),
        ]
        assert [s.asset for s in store.subscriptions(account="bob")] == ["alpha", "bravo"]
        assert len(store.subscriptions()) == 3
        assert store.subscriptions(asset="alpha", account="nobody") == []

    def test_a_transaction_reads_and_keeps_subscriptions_and_settles_them_with_a_write(
        self, store: Any
    ) -> None:
        write(store, create("alpha"), create("bravo"))
        held = Subscription("alpha", "bob", "2030-01-01T00:00:00Z", "2030-01-31T00:00:00Z", True)
        with store.transaction() as tx:
            tx.keep_subscription(held)
            tx.keep_subscription(replace(held, asset="bravo", ends_at=None, auto_renew=False))
        with store.transaction() as tx:
            assert tx.subscriptions_of(["alpha"]) == [held]
            assert [s.asset for s in tx.subscriptions_of(["alpha", "bravo", "none"])] == [
                "alpha",
                "bravo",
            ]
        # A write that settles terms keeps them in the same statement batch as the asset.
        [asset] = read(store, "alpha").values()
        settled = replace(held, auto_renew=False)
        with store.transaction() as tx:
            tx.store([StoredWrite(asset, asset.revision + 1, {}, [], (settled,))])
        assert store.subscriptions(asset="alpha") == [settled]
        # ... and a transaction that fails keeps none of it.
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.keep_subscription(replace(held, account="eve"))
            raise RuntimeError("rolled back")
        assert [s.account for s in store.subscriptions()] == ["bob", "bob"]

    def test_the_operator_adds_and_removes_categories_and_agreements(self, store: Any) -> None:
        assert store.add_category("weather-forecast") is True
        assert store.add_category("weather-forecast") is False
        assert "weather-forecast" in catalog_in_transaction(store).categories
        assert store.remove_category("weather-forecast") is True
        assert store.remove_category("weather-forecast") is False
        assert "weather-forecast" not in catalog_in_transaction(store).categories
        assert store.add_agreement("export", "Export terms") == "added"
        assert store.add_agreement("export", "Export terms") == "unchanged"
        assert store.add_agreement("export", "Export terms, v2") == "updated"
        assert store.agreement_titles()["export"] == "Export terms, v2"
        assert "export" in catalog_in_transaction(store).agreements
        assert store.remove_agreement("export") is True
        assert store.remove_agreement("export") is False
        assert "export" not in store.agreements()
        for bad in (lambda: store.add_category("Not A Slug"), lambda: store.add_agreement("x", "")):
            with pytest.raises(GalleryRefusal) as caught:
                bad()
            assert caught.value.code == "schema"

    def test_an_idempotency_key_keeps_its_first_reply_per_account(self, store: Any) -> None:
        assert store.idempotent("k1", "acme") is None
        with store.transaction() as tx:
            tx.remember("k1", "acme", '{"revision": 1}')
        store.remember("k1", "acme", '{"revision": 2}')
        assert store.idempotent("k1", "acme") == '{"revision": 1}'
        assert store.idempotent("k1", "other") is None
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.remember("k2", "acme", "lost")
            raise RuntimeError("rolled back")
        assert store.idempotent("k2", "acme") is None

    # --- The schema ------------------------------------------------------------------------

    def test_a_new_store_is_at_the_latest_migration(self, store: Any) -> None:
        assert store.schema_version() == migrations.LATEST
        rows = store.db.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows.fetchall()] == list(range(1, migrations.LATEST + 1))
        meta = store.db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert meta.fetchone()[0] == str(migrations.LATEST)
        again = self.reopen(store)  # opening it again migrates nothing
        assert again.schema_version() == migrations.LATEST
        again.close()

    def test_a_store_of_a_newer_format_is_refused_and_left_untouched(self, store: Any) -> None:
        newer = migrations.LATEST + 1
        store.db.execute("INSERT INTO schema_migrations VALUES (?, 'later')", (newer,))
        before = dump(store)
        with pytest.raises(GalleryUnavailable) as caught:
            self.reopen(store)
        assert str(caught.value).endswith(
            f": it is of a newer format (schema version {newer}) than this gallery-sync "
            f"understands ({migrations.LATEST}); it was left untouched. Upgrade gallery-sync "
            "to use it"
        )
        assert caught.value.code == "gallery-unavailable"
        assert dump(store) == before

    # --- State digests: kept by every write, cleared by an edit by other means ---------------

    def test_each_write_keeps_the_state_digest_of_what_it_stored(self, store: Any) -> None:
        assert write(store, create("flowers"), create("tulips", "Tulips")) == [1, 1]
        assert write(store, retitle("flowers", 1, "Two")) == [2]
        stored = read(store, "flowers", "tulips")
        assert store.state_digests("acme") == {
            i: (a.state_digest(), a.revision) for i, a in stored.items()
        }
        assert store.state_digests("bob") == {}

    @pytest.mark.parametrize(
        "edit",
        [
            "UPDATE assets SET title = 'Edited' WHERE id = 'flowers'",
            "UPDATE assets SET visibility = '\"only_me\"' WHERE id = 'flowers'",
            "UPDATE assets SET publisher = 'bob' WHERE id = 'flowers'",
            "UPDATE versions SET status = 'discontinued' WHERE asset_id = 'flowers'",
            "INSERT INTO versions (asset_id, version, region, ai_application, description, "
            "status, created_at) VALUES ('flowers', '2.0.0', 'cn-north-4', 'app', '', "
            "'released', 'then')",
            "DELETE FROM versions WHERE asset_id = 'flowers'",
        ],
        ids=["title", "visibility", "publisher", "a version", "a new version", "no versions"],
    )
    def test_an_edit_by_other_means_clears_the_state_digest(self, store: Any, edit: str) -> None:
        write(store, create("flowers"), create("tulips", "Tulips"))
        store.db.execute(edit)
        owner = read(store, "flowers")["flowers"].publisher
        assert store.state_digests(owner)["flowers"] == (None, 1)
        tulips = read(store, "tulips")["tulips"]
        assert store.state_digests("acme")["tulips"] == (tulips.state_digest(), 1)

    def test_an_edit_of_what_is_not_state_keeps_it(self, store: Any) -> None:
        write(store, create("flowers"))
        store.db.execute("UPDATE assets SET created_at = 'then', updated_at = 'then'")
        flowers = read(store, "flowers")["flowers"]
        assert store.state_digests("acme") == {"flowers": (flowers.state_digest(), 1)}

    def test_a_damaged_revision_or_digest_reads_as_none(self, store: Any) -> None:
        write(store, create("flowers"), create("tulips", "Tulips"))
        store.db.execute("UPDATE assets SET state_digest = 'not it' WHERE id = 'tulips'")
        if isinstance(store, SqliteStore):  # typed columns elsewhere: SQLite's hold anything
            store.db.execute("UPDATE assets SET revision = 'one' WHERE id = 'flowers'")
            assert store.state_digests("acme")["flowers"] == (None, "one")
        assert store.state_digests("acme")["tulips"] == ("not it", 1)  # a mismatch, read whole

    # --- Searching released assets (the web gallery) ---------------------------------------

    def keep(self, store: Any, *assets: Asset) -> None:
        """Store assets as they are (no rule asked), the first of them the newest."""
        with store.transaction() as tx:
            tx.store([StoredWrite(a, 1, {}, []) for a in assets])
        for age, a in enumerate(assets):
            store.db.execute(
                "UPDATE assets SET created_at = ? WHERE id = ?",
                (f"2024-01-01T00:00:{59 - age:02}Z", a.id),
            )

    def listing(self) -> list[Asset]:
        v = (Version("1.0.0", "cn-north-4", "app"),)
        pub = Visibility(VisibilityLevel.PUBLIC)
        bob = Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"bob", "carol"}))
        return [
            Asset(
                "tulips",
                "acme",
                "Tulip finder",
                v,
                description="Finds tulips in fields",
                categories=("computer-vision", "image-classification"),
                visibility=pub,
            ),
            Asset("secret", "acme", "Secret tulips", v, categories=("computer-vision",)),
            Asset(
                "shared",
                "acme",
                "Shared roses",
                v,
                description="roses for bob",
                categories=("ocr",),
                visibility=bob,
            ),
            Asset("gone", "acme", "Gone tulips", v, visibility=pub, status=Status.DISCONTINUED),
            Asset("bobs", "bob", "Bob's private OCR", v, categories=("ocr",)),
            Asset(
                "invoices",
                "zed",
                "Invoice reader",
                v,
                description="Reads invoices: OCR",
                categories=("ocr", "computer-vision"),
                visibility=pub,
            ),
        ]

    @pytest.mark.parametrize(
        "audience",
        [
            Audience(None),
            Audience("bob"),
            Audience("acme"),
            Audience("carol"),
            Audience("nobody"),
            Audience(None, sees_all=True),
        ],
        ids=lambda a: "all" if a.sees_all else str(a.account),
    )
    def test_a_listing_is_what_the_rules_admit_newest_first(
        self, store: Any, audience: Audience
    ) -> None:
        assets = self.listing()
        self.keep(store, *assets)
        page = store.search_released(audience)
        expected = [a.id for a in assets if audience.admits(a)]
        assert [a.id for a in page.assets] == expected
        assert page.total == len(expected)
        assert page.assets[0] == store.assets(ids=[expected[0]])[expected[0]]

    def test_a_search_matches_every_word_as_a_prefix_of_title_or_description(
        self, store: Any
    ) -> None:
        self.keep(store, *self.listing())
        anon = Audience(None)

        def found(text: str, audience: Audience = anon) -> list[str]:
            return [a.id for a in store.search_released(audience, text=text).assets]

        assert found("tulip") == ["tulips"]
        assert found("FIELDS tul") == ["tulips"]
        assert found("ocr") == ["invoices"]
        assert found("roses", Audience("bob")) == ["shared"]
        assert found("tulip", Audience("acme")) == ["tulips", "secret"]
        assert found('"tulip" OR NOT* (x') == []  # syntax is only separators: no such words
        assert found('tulip)*"') == ["tulips"]

    def test_the_search_index_follows_every_write(self, store: Any) -> None:
        [flowers] = write(store, create("flowers", "Flowers of spring"))
        assert flowers == 1
        anon = Audience(None)
        assert [a.id for a in store.search_released(anon, text="spring").assets] == ["flowers"]
        write(store, retitle("flowers", 1, "Roses of autumn"))
        assert store.search_released(anon, text="spring").assets == []
        assert [a.id for a in store.search_released(anon, text="autumn").assets] == ["flowers"]

    def test_categories_filter_by_any_with_counts_before_the_filter(self, store: Any) -> None:
        self.keep(store, *self.listing())
        page = store.search_released(Audience("bob"), categories=["ocr", "image-classification"])
        assert [a.id for a in page.assets] == ["tulips", "shared", "bobs", "invoices"]
        assert page.categories == {"computer-vision": 2, "image-classification": 1, "ocr": 3}
        searched = store.search_released(Audience(None), text="tulip", categories=["ocr"])
        assert (searched.assets, searched.total) == ([], 0)
        assert searched.categories == {"computer-vision": 1, "image-classification": 1}

    def test_pages_by_offset_and_the_total_past_the_last(self, store: Any) -> None:
        v = (Version("1.0.0", "cn-north-4", "app"),)
        pub = Visibility(VisibilityLevel.PUBLIC)
        self.keep(
            store, *[Asset(f"m{i:02}", "acme", f"Model {i}", v, visibility=pub) for i in range(7)]
        )
        pages = [store.search_released(Audience(None), offset=o, limit=3) for o in (0, 3, 6, 9)]
        assert [[a.id for a in p.assets] for p in pages] == [
            ["m00", "m01", "m02"],
            ["m03", "m04", "m05"],
            ["m06"],
            [],
        ]
        assert {p.total for p in pages} == {7}

    def test_a_web_session_is_kept_by_hash_until_it_expires_or_ends(self, store: Any) -> None:
        live = WebSession("s1", "t1", "c1", "2024-01-01T00:00:00Z", "2999-01-01T00:00:00Z")
        old = WebSession("s2", "t2", "c2", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
        store.create_session(live)
        store.create_session(old)
        assert store.web_session("s1") == live
        assert store.web_session("s2") is None
        store.end_session("s1")
        assert store.web_session("s1") is None


def dump(store: Any) -> list[tuple[Any, ...]]:
    """Every row of every gallery table, to show nothing was written."""
    out = []
    for table in ("meta", "schema_migrations", "assets", "versions", "audit", "applications"):
        out += [(table, *r) for r in store.db.execute(f"SELECT * FROM {table}").fetchall()]
    return sorted(out, key=repr)


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        store = SqliteStore.open(f"sqlite:///{tmp_path / 'g.db'}", create=True)
        yield store
        store.close()

    def test_a_gallery_made_by_0_1_is_migrated_in_place(self, tmp_path: Path) -> None:
        path = tmp_path / "old.db"
        shutil.copy(DATA / "gallery-v1.db", path)
        old = sqlite3.connect(path)
        assert old.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "1",
        )
        old.close()
        gallery = open_gallery(f"sqlite:///{path}")  # a reading command migrates it too
        assert isinstance(gallery, GalleryService) and isinstance(gallery.store, SqliteStore)
        store = gallery.store
        assert store.schema_version() == migrations.LATEST
        flowers = gallery.read_state().assets["flowers"]
        assert (flowers.title, flowers.revision, flowers.cover) == ("Flowers 2", 2, SHA_V1)
        # The assets it held are given their state digests, as a write keeps them.
        assert store.state_digests("acme-ml") == {"flowers": (flowers.state_digest(), 2)}
        assert gallery.cover(SHA_V1) == b"\x89PNG fake cover"
        assert [e.message for e in gallery.history()] == ["retitle", "made by 0.1"]
        # Its applications are the embedded catalog's (account ''), as plan and apply see it.
        assert [a.name for a in store.list_applications()] == ["flowers-resnet50", "summarizer"]
        assert gallery.catalog().application("cn-north-4", "flowers-resnet50") is not None
        rows = store.db.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, migrations.LATEST + 1))
        [revision] = write(store, retitle("flowers", 2, "Flowers 3"), account="acme-ml")
        assert revision == 3
        assert gallery.read_state().assets["flowers"].revision == 3
        gallery.close()


SHA_V1 = "439403fca3970d5862ce3485dd212373c2215c8ef55bd7983e140438c9de376c"


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[Any]:
        from gallery_sync.gallery.postgres import PostgresStore

        store = PostgresStore.open(pg_url, create=True)
        yield store
        store.close()

    def test_two_processes_writing_one_asset_one_wins_the_other_gets_conflict(
        self, store: Any, pg_url: str, tmp_path: Path
    ) -> None:
        write(store, create("shared"))
        results = race(pg_url, tmp_path, [("update", "shared"), ("create", "fresh")])
        for kind, asset in (("update", "shared"), ("create", "fresh")):
            outcomes = sorted(results[(kind, asset)])
            assert outcomes == ["conflict", "ok"], (kind, outcomes)
        final = read(store, "shared", "fresh")
        assert final["shared"].revision == 2 and final["fresh"].revision == 1
        kinds = [e.change["kind"] for e in store.history(asset="shared")]
        assert kinds == ["update-fields", "create"]  # the loser left no audit entry
        assert [e.change["kind"] for e in store.history(asset="fresh")] == ["create"]


class TestPostgresOpening:
    """Opening a PostgreSQL store: what is refused, and how."""

    def test_a_database_with_tables_of_its_own_is_refused(self, pg_url: str) -> None:
        import psycopg

        from gallery_sync.gallery.postgres import PostgresStore

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id integer)")
        with pytest.raises(GalleryUnavailable) as caught:
            PostgresStore.open(pg_url, create=True)
        assert "it is a PostgreSQL database with tables of its own (notes), not a gallery" in (
            str(caught.value)
        )

    def test_an_empty_database_is_created_only_by_a_writer(self, pg_url: str) -> None:
        with pytest.raises(GalleryUnavailable) as caught:
            open_gallery(pg_url)
        assert "(the database has no tables)" in str(caught.value)
        gallery = open_gallery(pg_url, create=True)
        assert isinstance(gallery, GalleryService)
        assert type(gallery.store).__name__ == "PostgresStore"
        assert gallery.read_state().assets == {}
        gallery.close()

    def test_a_server_that_does_not_answer_is_one_line_without_the_password(self) -> None:
        url = "postgresql://gs:s3cret@127.0.0.1:1/nothing"
        with pytest.raises(GalleryUnavailable) as caught:
            open_gallery(url)
        text = str(caught.value)
        assert text.startswith(
            "cannot open the gallery at postgresql://gs:***@127.0.0.1:1/nothing: "
        )
        assert "s3cret" not in text and "\n" not in text


RACER = """
import sys, time
from pathlib import Path
from gallery_sync.gallery import WriteRequest
from gallery_sync.gallery import postgres
from gallery_sync.gallery.service import write_assets
from gallery_sync.model import Operation, OpKind

url, kind, asset, go = sys.argv[1:5]
store = postgres.PostgresStore.open(url)
slow = postgres._PgTx.store

def store_slowly(self, *args, **kwargs):
    time.sleep(0.5)  # hold the asset's lock while the other process tries
    return slow(self, *args, **kwargs)

postgres._PgTx.store = store_slowly
agreed = frozenset({"digital-content-publishing", "ai-gallery-service"})
if kind == "create":
    body = {"title": "New", "visibility": "public", "versions": {"1.0.0": {
        "region": "cn-north-4", "ai_application": "app", "description": "",
        "status": "released"}}}
    request = WriteRequest(asset, None, (Operation(OpKind.CREATE, value=body),), agreed)
else:
    op = Operation(OpKind.UPDATE_FIELDS, value={"title": "by " + str(id(store))})
    request = WriteRequest(asset, 1, (op,), agreed)
while not Path(go).exists():
    time.sleep(0.01)
[[outcome]] = list(write_assets(store, [request], account="acme", applications_of=""))
print("ok" if isinstance(outcome, int) else outcome.code)
"""


def race(url: str, tmp_path: Path, writes: list[tuple[str, str]]) -> dict[Any, list[str]]:
    """Each write by two processes at once; what each process got."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = {
        (kind, asset, n): subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(RACER), url, kind, asset, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for kind, asset in writes
        for n in range(2)
    }
    go.touch()
    results: dict[Any, list[str]] = {}
    for (kind, asset, _), proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.setdefault((kind, asset), []).append(out.strip())
    return results


def test_the_embedded_path_never_imports_psycopg(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from gallery_sync import cli\n"
        "from gallery_sync.gallery import open_gallery\n"
        f"open_gallery('sqlite:///{tmp_path / 'g.db'}', create=True).close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout == "[]\n", out.stderr
