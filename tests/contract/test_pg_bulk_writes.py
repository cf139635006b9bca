"""The PostgreSQL store's bulk write path: a batch's new assets, their versions and its audit
records go in by COPY, changed assets as upserts. What that must not change: every value kept
exactly, a create never overwriting a row that is already there, the audit log in write order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from gallery_sync.errors import StoreError
from gallery_sync.gallery.service import AuditRecord, StoredWrite
from gallery_sync.model import Asset, DurationLimit, Status, Version, Visibility

# COPY's text format gives tab, newline, backslash and `\N` (its NULL) meanings of their own.
AWKWARD = "tab\there\nnew line \\ back\\slash \\N not null, ünïcode ✓"


@pytest.fixture
def store(pg_url: str) -> Iterator[Any]:
    from gallery_sync.gallery.postgres import PostgresStore

    store = PostgresStore.open(pg_url, create=True)
    yield store
    store.close()


def asset(asset_id: str, title: str = "Flowers", description: str = "", **more: Any) -> Asset:
    return Asset(
        id=asset_id,
        publisher="acme",
        title=title,
        versions=(Version("1.0.0", "cn-north-4", "app", description),),
        description=description,
        **more,
    )


def made(a: Asset, *, revision: int = 1, kind: str = "create") -> StoredWrite:
    """The write of `a` at `revision` (1: it makes the asset), with one audit record."""
    record = AuditRecord("acme", a.id, {"kind": kind, "title": a.title}, "plan", "message")
    return StoredWrite(replace(a, revision=revision), revision, {}, [record])


def stored(store: Any, *ids: str) -> dict[str, Asset]:
    with store.transaction() as tx:
        found: dict[str, Asset] = tx.get_assets(ids)
    return found


def test_every_character_of_a_new_asset_is_kept_exactly(store: Any) -> None:
    new = asset(
        "awkward",
        title=AWKWARD,
        description=AWKWARD,
        cover=None,
        categories=("ocr",),
        visibility=Visibility.from_json({"specific_users": ["al\\N"]}),
        duration_limit=DurationLimit(30, True),
        status=Status.DISCONTINUED,
    )
    with store.transaction() as tx:
        tx.store([made(new)])
    assert stored(store, "awkward") == {"awkward": replace(new, revision=1)}
    [entry] = store.history(asset="awkward")
    assert entry.change == {"kind": "create", "title": AWKWARD}
    assert (entry.plan_hash, entry.message) == ("plan", "message")


def test_a_create_finding_its_row_there_fails_and_overwrites_nothing(store: Any) -> None:
    with store.transaction() as tx:
        tx.store([made(asset("taken", "First"))])
    with store.transaction() as tx, pytest.raises(StoreError), tx.savepoint():
        tx.store([made(asset("fresh")), made(asset("taken", "Second", "other"))])
    assert list(stored(store, "taken", "fresh")) == ["taken"]
    kept = stored(store, "taken")["taken"]
    assert (kept.title, kept.description, kept.revision) == ("First", "", 1)
    assert [e.change["title"] for e in store.history()] == ["First"]


def test_one_batch_creates_and_changes_assets_and_audits_in_write_order(store: Any) -> None:
    with store.transaction() as tx:
        tx.store([made(asset("old", "Old"))])
    changed = replace(
        asset("old", "Old, retitled", "notes"),
        versions=(
            Version("1.0.0", "cn-north-4", "app", "notes"),
            Version("1.1.0", "cn-north-4", "app", "added"),
        ),
    )
    writes = [
        made(asset("new-a", "A")),
        made(changed, revision=2, kind="update-fields"),
        made(asset("new-b", "B")),
    ]
    with store.transaction() as tx:
        tx.store(writes, [AuditRecord("acme", "new-b", {"kind": "note"}, "plan", "")])
    after = stored(store, "old", "new-a", "new-b")
    assert after["old"] == replace(changed, revision=2)
    assert (after["new-a"].title, after["new-a"].revision) == ("A", 1)
    assert (after["new-b"].title, after["new-b"].revision) == ("B", 1)
    newest_first = [(e.asset, e.change["kind"]) for e in store.history()]
    assert newest_first == [
        ("new-b", "note"),
        ("new-b", "create"),
        ("old", "update-fields"),
        ("new-a", "create"),
        ("old", "create"),
    ]
