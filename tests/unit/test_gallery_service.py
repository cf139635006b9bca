"""The gallery refuses illegal writes itself, when called directly, bypassing plan."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from gallery_sync.errors import GalleryRefusal, GalleryUnavailable
from gallery_sync.gallery import Principal, Role, WriteRequest, open_gallery
from gallery_sync.gallery.migrations import LATEST
from gallery_sync.gallery.service import BATCH_SIZE, GalleryService
from gallery_sync.model import Application, Asset, Operation, OpKind

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}
ASSET = {
    "title": "Flowers",
    "visibility": "only_me",
    "versions": {"1.0.0": V1},
}


@pytest.fixture
def gallery(tmp_path: Path) -> GalleryService:
    g = open_gallery(
        f"sqlite:///{tmp_path / 'g.db'}", create=True, principal=Principal.embedded("acme")
    )
    assert isinstance(g, GalleryService)
    g.add_application(Application("app", "cn-north-4"))
    g.add_application(Application("app2", "cn-north-4"))
    g.add_application(Application("img", "cn-north-4", "docker.io/acme/img:latest"))
    return g


def write(
    g: GalleryService,
    *ops: Operation,
    revision: int | None = 1,
    account: str = "acme",
    asset: str = "flowers",
    agreements: frozenset[str] = AGREED,
) -> int:
    writer = g if account == g.principal.account else GalleryService(g.store, Principal(account))
    return writer.write_asset(WriteRequest(asset, revision, ops, agreements))


def create(g: GalleryService, body: dict[str, object] = ASSET) -> int:
    return write(g, Operation(OpKind.CREATE, value=body), revision=None)


def dump(g: GalleryService) -> list[str]:
    return list(g.store.db.iterdump())


def refused(g: GalleryService, *ops: Operation, **kwargs: object) -> str:
    before = dump(g)
    with pytest.raises(GalleryRefusal) as caught:
        write(g, *ops, **kwargs)  # type: ignore[arg-type]
    assert dump(g) == before  # nothing of a refused write survives
    return caught.value.code


def test_create_and_revisions(gallery: GalleryService) -> None:
    assert create(gallery) == 1
    assert write(gallery, Operation(OpKind.UPDATE_FIELDS, value={"title": "New"})) == 2
    assert gallery.read_state().assets["flowers"].title == "New"


def test_refuses_visibility_narrowing(gallery: GalleryService) -> None:
    create(gallery, {**ASSET, "visibility": "public"})
    assert refused(gallery, Operation(OpKind.SET_VISIBILITY, value="only_me")) == (
        "visibility-narrowing"
    )
    users = {"specific_users": ["a", "b"]}
    create_other = {**ASSET, "visibility": users}
    write(gallery, Operation(OpKind.CREATE, value=create_other), revision=None, asset="tulips")
    narrowed = Operation(OpKind.SET_VISIBILITY, value={"specific_users": ["a"]})
    assert refused(gallery, narrowed, asset="tulips") == "visibility-narrowing"


def test_refuses_version_source_change(gallery: GalleryService) -> None:
    create(gallery)
    op = Operation(OpKind.ADD_VERSION, "1.0.0", {**V1, "ai_application": "app2"})
    assert refused(gallery, op) == "version-source-changed"


def test_refuses_rerelease(gallery: GalleryService) -> None:
    create(gallery, {**ASSET, "versions": {"1.0.0": V1, "1.1.0": V1}})
    write(gallery, Operation(OpKind.DISCONTINUE_VERSION, "1.0.0"))
    assert refused(gallery, Operation(OpKind.ADD_VERSION, "1.0.0", V1), revision=2) == (
        "version-rerelease"
    )


def test_refuses_discontinuing_the_last_version(gallery: GalleryService) -> None:
    create(gallery)
    assert refused(gallery, Operation(OpKind.DISCONTINUE_VERSION, "1.0.0")) == (
        "version-discontinue-last"
    )
    # Legal: add 1.1.0 and discontinue 1.0.0 in one write, in apply order.
    write(
        gallery,
        Operation(OpKind.ADD_VERSION, "1.1.0", {**V1, "ai_application": "app2"}),
        Operation(OpKind.DISCONTINUE_VERSION, "1.0.0"),
    )


def test_refuses_new_discontinued_asset_and_version(gallery: GalleryService) -> None:
    with pytest.raises(GalleryRefusal) as caught:
        create(gallery, {**ASSET, "status": "discontinued"})
    assert caught.value.code == "new-asset-discontinued"
    create(gallery)
    op = Operation(OpKind.ADD_VERSION, "1.1.0", {**V1, "status": "discontinued"})
    assert refused(gallery, op) == "new-version-discontinued"


def test_refuses_without_agreements_or_unknown_things(gallery: GalleryService) -> None:
    with pytest.raises(GalleryRefusal) as caught:
        write(gallery, Operation(OpKind.CREATE, value=ASSET), revision=None, agreements=frozenset())
    assert caught.value.code == "agreement-missing"
    with pytest.raises(GalleryRefusal) as caught:
        create(gallery, {**ASSET, "versions": {"1.0.0": {**V1, "ai_application": "nope"}}})
    assert caught.value.code == "application-not-found"
    with pytest.raises(GalleryRefusal) as caught:
        create(gallery, {**ASSET, "categories": ["not-a-category"]})
    assert caught.value.code == "unknown-category"


def test_refuses_another_publishers_asset(gallery: GalleryService) -> None:
    create(gallery)
    op = Operation(OpKind.UPDATE_FIELDS, value={"title": "Mine now"})
    assert refused(gallery, op, account="mallory") == "asset-owned-by-other"


def test_refuses_a_stale_revision_with_conflict(gallery: GalleryService) -> None:
    create(gallery)
    write(gallery, Operation(OpKind.UPDATE_FIELDS, value={"title": "Two"}))
    assert refused(gallery, Operation(OpKind.UPDATE_FIELDS, value={"title": "Three"})) == (
        "conflict"
    )
    with pytest.raises(GalleryRefusal) as caught:
        create(gallery)  # exists already
    assert caught.value.code == "conflict"


def test_image_policy_refuses_publish_and_records_the_finding(gallery: GalleryService) -> None:
    body = {**ASSET, "versions": {"1.0.0": {**V1, "ai_application": "img"}}}
    with pytest.raises(GalleryRefusal) as caught:
        create(gallery, body)
    assert caught.value.code == "image-policy"
    assert gallery.read_state().assets == {}
    [entry] = gallery.history("flowers")
    assert entry.change["kind"] == "refused" and entry.change["code"] == "image-policy"
    assert "not pinned by digest" in str(entry.change["message"])


def test_cover_is_stored_by_sha256_and_must_be_uploaded(gallery: GalleryService) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"x" * 10
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(GalleryRefusal):
        create(gallery, {**ASSET, "cover": sha})
    gallery.write_asset(
        WriteRequest(
            "flowers",
            None,
            (Operation(OpKind.CREATE, value={**ASSET, "cover": sha}),),
            AGREED,
            covers={sha: data},
        )
    )
    assert gallery.cover(sha) == data


def test_every_applied_operation_is_audited(gallery: GalleryService) -> None:
    create(gallery)
    gallery.write_asset(
        WriteRequest(
            "flowers",
            1,
            (
                Operation(OpKind.UPDATE_FIELDS, value={"title": "T"}),
                Operation(OpKind.SET_VISIBILITY, value="public"),
            ),
            AGREED,
            plan_hash="abc",
            message="why",
        )
    )
    entries = gallery.history("flowers")
    assert [e.change["kind"] for e in entries] == ["set-visibility", "update-fields", "create"]
    assert entries[0].plan_hash == "abc" and entries[0].message == "why"
    assert entries[0].account == "acme"


def test_database_is_created_on_first_use_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / ".gallery" / "g.db"
    g = open_gallery(f"sqlite:///{path}", create=True)
    catalog = g.catalog()
    assert "image-classification" in catalog.categories and len(catalog.categories) == 18
    assert catalog.agreements == AGREED
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def request(*ops: Operation, asset: str = "flowers", revision: int | None = None) -> WriteRequest:
    return WriteRequest(asset, revision, ops, AGREED)


def test_a_batch_applies_the_good_writes_and_refuses_the_bad_alone(gallery: GalleryService) -> None:
    bad = {**ASSET, "versions": {"1.0.0": {**V1, "ai_application": "img"}}}
    [outcomes] = gallery.write_assets(
        [
            request(Operation(OpKind.CREATE, value=ASSET), asset="aaa"),
            request(Operation(OpKind.CREATE, value=bad), asset="bbb"),
            request(Operation(OpKind.CREATE, value=ASSET), asset="ccc", revision=3),
            request(Operation(OpKind.CREATE, value=ASSET), asset="ddd"),
        ]
    )
    assert [o if isinstance(o, int) else o.code for o in outcomes] == [
        1,
        "image-policy",
        "conflict",
        1,
    ]
    assert sorted(gallery.read_state().assets) == ["aaa", "ddd"]
    audited = {(e.asset, e.change["kind"]) for e in gallery.history()}
    assert audited == {("aaa", "create"), ("bbb", "refused"), ("ddd", "create")}


def test_the_same_asset_twice_goes_in_two_batches_in_order(gallery: GalleryService) -> None:
    batches = list(
        gallery.write_assets(
            [
                request(Operation(OpKind.CREATE, value=ASSET)),
                request(Operation(OpKind.UPDATE_FIELDS, value={"title": "Two"}), revision=1),
            ]
        )
    )
    assert batches == [[1], [2]]
    assert gallery.read_state().assets["flowers"].title == "Two"


def test_batches_hold_at_most_batch_size_writes(gallery: GalleryService) -> None:
    requests = [
        request(Operation(OpKind.CREATE, value=ASSET), asset=f"a{i:04d}")
        for i in range(BATCH_SIZE + 3)
    ]
    sizes = [len(b) for b in gallery.write_assets(requests)]
    assert sizes == [BATCH_SIZE, 3]
    assert len(gallery.read_state().assets) == BATCH_SIZE + 3


def test_a_store_error_fails_that_write_only_and_keeps_nothing_of_it(
    gallery: GalleryService,
) -> None:
    gallery.store.db.execute(
        "CREATE TRIGGER no_b BEFORE INSERT ON versions WHEN NEW.asset_id = 'bbb' "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    [outcomes] = gallery.write_assets(
        [request(Operation(OpKind.CREATE, value=ASSET), asset=a) for a in ("aaa", "bbb", "ccc")]
    )
    assert outcomes[0] == 1 and outcomes[2] == 1
    refusal = outcomes[1]
    assert isinstance(refusal, GalleryRefusal) and refusal.code == "gallery-error"
    assert "disk says no" in str(refusal)
    assert sorted(gallery.read_state().assets) == ["aaa", "ccc"]
    assert [e.asset for e in gallery.history()] == ["ccc", "aaa"]


def test_catalog_looks_up_only_the_applications_asked_for(gallery: GalleryService) -> None:
    statements: list[str] = []
    gallery.store.db.set_trace_callback(statements.append)

    def reads() -> tuple[int, int]:
        found = [s for s in statements if "FROM applications" in s]
        targeted = ["json_each" in s for s in found]  # the whole list is one account's
        return sum(targeted), len(targeted) - sum(targeted)

    catalog = gallery.catalog(())
    assert "ocr" in catalog.categories and catalog.applications == {}
    assert reads() == (0, 0)  # a plan adding no version reads none
    catalog = gallery.catalog([("cn-north-4", "app"), ("cn-north-4", "img")])
    assert catalog.applications == {
        ("cn-north-4", "app"): Application("app", "cn-north-4"),
        ("cn-north-4", "img"): Application("img", "cn-north-4", "docker.io/acme/img:latest"),
    }
    assert reads() == (1, 0)  # one targeted query for all the keys
    # An unknown key brings the whole list, so that the rules can name the likely one.
    catalog = gallery.catalog([("cn-north-4", "ap")])
    assert len(catalog.applications) == 3 and reads() == (2, 1)
    assert len(gallery.catalog().applications) == 3  # None: the whole catalog


def test_a_write_batch_looks_up_its_applications_never_the_whole_catalog(
    gallery: GalleryService,
) -> None:
    # Listing the whole catalog once per batch made a 100,000-asset apply read 200 x 600,000
    # rows: thousands of keys are still looked up, by one targeted query per KEYS_PER_QUERY,
    # unless they are at least half of the catalog.
    with gallery.store.transaction() as tx:
        tx.db.executemany(
            "INSERT INTO applications VALUES ('', 'cn-east-3', ?, NULL)",
            [(f"other-{i}",) for i in range(30_000)],
        )
    statements: list[str] = []
    gallery.store.db.set_trace_callback(statements.append)
    keys = [("cn-north-4", f"missing-{i}") for i in range(12_000)] + [("cn-north-4", "app")]
    found = gallery.store.applications(keys)
    assert found == {("cn-north-4", "app"): Application("app", "cn-north-4")}
    queries = [s for s in statements if "FROM applications" in s and "count(*)" not in s]
    assert len(queries) == 3 and all("json_each" in q for q in queries)
    statements.clear()
    most = [("cn-east-3", f"other-{i}") for i in range(20_000)] + keys[-1:]
    found = gallery.store.applications(most)
    assert len(found) == 20_001 and found[("cn-east-3", "other-2")].name == "other-2"
    queries = [s for s in statements if "FROM applications" in s and "count(*)" not in s]
    assert len(queries) == 1 and "json_each" not in queries[0]  # most of it: the whole list


def test_only_a_writer_creates_a_gallery_and_never_a_mistyped_directory(tmp_path: Path) -> None:
    with pytest.raises(GalleryUnavailable, match=r"there is no gallery at .*apply"):
        open_gallery(f"sqlite:///{tmp_path / 'g.db'}")
    with pytest.raises(GalleryUnavailable, match="does not exist"):
        open_gallery(f"sqlite:///{tmp_path / 'nonexist' / 'dir' / 'g.db'}", create=True)
    assert list(tmp_path.iterdir()) == []


# --- The write path refuses what the schema refuses, whoever the client is ----------------


def file_bytes(g: GalleryService) -> bytes:
    """The database file and its WAL: what a refused write must leave as it was."""
    path = Path(g.url.removeprefix("sqlite:///"))
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize(
    ("asset_id", "body", "expected"),
    [
        ("../../../pwned", ASSET, "asset id '../../../pwned' does not match"),
        ("flowers\n", ASSET, "asset id 'flowers\\n' does not match"),
        ("flowers", {**ASSET, "title": "t" * 5000}, "title is 5,000 characters; at most 100"),
        (
            "flowers",
            {**ASSET, "versions": {"1.0.0": {**V1, "description": "n" * 2001}}},
            "version description is 2,001 characters; at most 2,000",
        ),
        ("flowers", {**ASSET, "versions": {"1.0.0\n": V1}}, "version '1.0.0\\n' does not match"),
        ("flowers", {**ASSET, "visibility": "everyone"}, "the gallery refuses the write: its"),
        ("flowers", {**ASSET, "duration_limit": {"days": 0}}, "duration_limit days is 0"),
        ("flowers", {**ASSET, "cover": "../x.png"}, "cover '../x.png' is not the sha256"),
        ("flowers", {"visibility": "only_me"}, "the gallery refuses the write: its 'create'"),
    ],
)
def test_a_write_out_of_shape_is_refused_with_schema_and_nothing_stored(
    gallery: GalleryService, asset_id: str, body: dict[str, object], expected: str
) -> None:
    before = file_bytes(gallery)
    with pytest.raises(GalleryRefusal) as caught:
        write(gallery, Operation(OpKind.CREATE, value=body), revision=None, asset=asset_id)
    assert caught.value.code == "schema"
    message = caught.value.diagnostics[0].message
    assert expected in message, message
    assert file_bytes(gallery) == before


def test_an_update_out_of_shape_is_refused_and_the_asset_stays_at_its_revision(
    gallery: GalleryService,
) -> None:
    create(gallery)
    for op in (
        Operation(OpKind.UPDATE_FIELDS, value={"title": "x" * 101}),
        Operation(OpKind.SET_VERSION_DESCRIPTION, "1.0.0", "n" * 2001),
        Operation(OpKind.ADD_VERSION, "2.0.0\n", V1),
        Operation(OpKind.ADD_VERSION, None, V1),
        Operation(OpKind.SET_DURATION, value={"days": "9" * 5000}),
        Operation(OpKind.SET_VISIBILITY, value={"specific_users": ["a b"]}),
    ):
        assert refused(gallery, op) == "schema", op
    assert gallery.read_state().assets["flowers"].revision == 1


# --- Files that are not (this version's) galleries are refused untouched --------------------


def test_a_gallery_of_a_newer_format_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    open_gallery(f"sqlite:///{path}", create=True).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(LATEST + 1),))
    db.commit()
    db.close()
    before = path.read_bytes()
    for create_it in (False, True):
        with pytest.raises(GalleryUnavailable) as caught:
            open_gallery(f"sqlite:///{path}", create=create_it)
        assert str(caught.value) == (
            f"cannot open the gallery at {path}: it is of a newer format (schema version "
            f"{LATEST + 1}) than this gallery-sync understands ({LATEST}); it was left untouched. "
            "Upgrade gallery-sync to use it"
        )
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_an_sqlite_database_of_someone_elses_gets_no_gallery_tables(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    db.execute("INSERT INTO notes (text) VALUES ('keep me')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(GalleryUnavailable, match=r"tables of its own \(notes\), not a gallery"):
        open_gallery(f"sqlite:///{path}", create=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


@pytest.mark.parametrize("content", [b"this is not sqlite " * 100, bytes(range(256)) * 20])
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.db"
    path.write_bytes(content)
    with pytest.raises(GalleryUnavailable, match=r"it is not a gallery .*left untouched"):
        open_gallery(f"sqlite:///{path}", create=True)
    assert path.read_bytes() == content


def test_an_empty_file_is_no_gallery_to_readers_and_becomes_one_for_writers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.db"
    path.touch()
    with pytest.raises(GalleryUnavailable, match=r"the file .*g\.db is empty, not a gallery"):
        open_gallery(f"sqlite:///{path}")
    assert path.read_bytes() == b""
    assert open_gallery(f"sqlite:///{path}", create=True).catalog().agreements == AGREED


# --- A damaged gallery says which gallery and how ------------------------------------------


DAMAGE = [
    (
        "UPDATE assets SET visibility = 'not json{'",
        "assets.visibility of 'flowers' is not JSON",
    ),
    ("UPDATE assets SET status = 'bogus'", "assets.status of 'flowers' is 'bogus', not one of"),
    (
        "UPDATE assets SET visibility = '\"everyone\"'",
        "assets.visibility of 'flowers' is not a visibility (only_me, public or "
        "{specific_users: [...]}): '\"everyone\"'",
    ),
    (
        "ALTER TABLE assets RENAME TO old; CREATE TABLE assets AS SELECT * FROM old; "
        "DROP TABLE old; UPDATE assets SET categories = NULL",
        "assets.categories of 'flowers' is NULL",
    ),
    ("UPDATE versions SET status = 'x'", "versions.status of 'flowers' 1.0.0 is 'x', not one"),
    ("UPDATE versions SET version = '1.x'", "versions.version of 'flowers' 1.x is '1.x', not"),
    ("ALTER TABLE assets DROP COLUMN duration_limit", "table assets: no such column"),
    ("DROP TABLE versions", "table versions: no such table: versions"),
]


@pytest.mark.parametrize(("sql", "how"), DAMAGE)
def test_a_damaged_gallery_names_itself_and_the_damage(
    gallery: GalleryService, sql: str, how: str
) -> None:
    create(gallery)
    gallery.store.db.execute("PRAGMA foreign_keys = OFF")
    gallery.store.db.executescript(sql)
    path = gallery.url.removeprefix("sqlite:///")
    with pytest.raises(GalleryUnavailable) as caught:
        gallery.read_state()
    assert str(caught.value).startswith(f"gallery {path} is damaged: {how}"), str(caught.value)


def test_damaged_audit_entries_and_catalog_name_the_damage(gallery: GalleryService) -> None:
    create(gallery)
    path = gallery.url.removeprefix("sqlite:///")
    gallery.store.db.execute("UPDATE audit SET change = 'oops' WHERE id = 1")
    with pytest.raises(GalleryUnavailable) as caught:
        gallery.history()
    assert str(caught.value) == f"gallery {path} is damaged: audit.change of entry #1 is not JSON"
    gallery.store.db.execute("UPDATE meta SET value = '[' WHERE key = 'allowed_registries'")
    with pytest.raises(
        GalleryUnavailable, match=f"gallery {path} is damaged: meta.allowed_registries is not JSON$"
    ):
        gallery.catalog()
    gallery.store.db.execute("UPDATE meta SET value = '[]' WHERE key = 'allowed_registries'")
    gallery.store.db.execute("ALTER TABLE applications DROP COLUMN image")
    with pytest.raises(GalleryUnavailable, match="is damaged: no such column: image"):
        open_gallery(gallery.url).catalog()


# --- Store failures: what failed, nothing half-written -------------------------------------


def test_a_full_disk_fails_the_write_and_keeps_nothing(gallery: GalleryService) -> None:
    create(gallery)
    pages = gallery.store.db.execute("PRAGMA page_count").fetchone()[0]
    gallery.store.db.execute(f"PRAGMA max_page_count = {pages}")
    big = {**ASSET, "description": "d" * 40_000}
    before = gallery.read_state()
    [outcomes] = gallery.write_assets(
        [
            request(Operation(OpKind.CREATE, value=big), asset="tulips"),
            # Larger than the slack the search index leaves in the file's last pages.
            request(
                Operation(OpKind.UPDATE_FIELDS, value={"description": "e" * 40_000}), revision=1
            ),
        ]
    )
    for outcome in outcomes:
        assert isinstance(outcome, GalleryRefusal) and outcome.code == "gallery-error"
        assert "database or disk is full: the disk holding the gallery" in str(outcome)
    assert gallery.read_state() == before
    assert [e.asset for e in gallery.history()] == ["flowers"]


def test_a_locked_gallery_fails_after_the_timeout_naming_the_lock(
    gallery: GalleryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALLERY_LOCK_TIMEOUT", "0.2")
    other = open_gallery(gallery.url, principal=gallery.principal)
    assert isinstance(other, GalleryService)
    holder = sqlite3.connect(gallery.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        [[outcome]] = other.write_assets([request(Operation(OpKind.CREATE, value=ASSET))])
    finally:
        holder.execute("ROLLBACK")
    assert isinstance(outcome, GalleryRefusal) and outcome.code == "gallery-error"
    assert "database is locked: another process held the gallery's write lock for longer " in (
        str(outcome)
    )
    assert "than 0.2 s (GALLERY_LOCK_TIMEOUT)" in str(outcome)
    assert gallery.read_state().assets == {}


@pytest.mark.parametrize("value", ["soon", "-1", "1e9", "nan"])
def test_a_bad_lock_timeout_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GALLERY_LOCK_TIMEOUT", value)
    with pytest.raises(GalleryUnavailable, match=r"GALLERY_LOCK_TIMEOUT=.*expected a number"):
        open_gallery(f"sqlite:///{tmp_path / 'g.db'}", create=True)
    assert list(tmp_path.iterdir()) == []


def test_the_store_refuses_applications_and_registries_no_catalog_could_hold(
    gallery: GalleryService,
) -> None:
    before = file_bytes(gallery)
    for app in (
        Application("bad name!/../x", "cn-north-4"),
        Application("app", "not a region"),
        Application("app", "cn-north-4", "img with space"),
    ):
        with pytest.raises(GalleryRefusal) as caught:
            gallery.add_application(app)
        assert caught.value.code == "schema"
    for patterns in ([], [""], ["  "], ["ok.io", "a b"]):
        operator = gallery.admin()
        assert operator is not None  # the embedded gallery's user operates it
        with pytest.raises(GalleryRefusal):
            operator.set_allowed_registries(patterns)
    assert file_bytes(gallery) == before


def test_the_embedded_galleries_applications_are_every_local_publishers(tmp_path: Path) -> None:
    """`apps add` runs without a config: its applications are the account '' catalog, which
    any publisher of the embedded gallery uses; a served principal has only its own."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    reader = open_gallery(url, create=True)  # as `apps add`: Principal(None, local=True)
    assert reader.add_application(Application("app", "cn-north-4")) == "added"
    assert isinstance(reader, GalleryService)
    rows = reader.store.db.execute("SELECT account, region, name FROM applications")
    assert rows.fetchall() == [("", "cn-north-4", "app")]
    for account in ("acme", "zed"):
        local = GalleryService(reader.store, Principal.embedded(account))
        made = Operation(OpKind.CREATE, value=ASSET)
        assert local.write_asset(WriteRequest(f"of-{account}", None, (made,), AGREED)) == 1
        assert ("cn-north-4", "app") in local.catalog().applications
    served = GalleryService(reader.store, Principal("acme", Role.PUBLISHER))
    assert dict(served.catalog().applications) == {}
    reader.close()


def test_a_write_after_a_catalog_read_uses_it_while_its_version_is_current(
    gallery: GalleryService,
) -> None:
    # Plan reads the catalog, then apply writes: the batch's transaction finds the version
    # read and uses that catalog, with no look-up of its applications.
    gallery.catalog([("cn-north-4", "app")])
    statements: list[str] = []
    gallery.store.db.set_trace_callback(statements.append)
    assert create(gallery) == 1
    assert [s for s in statements if "FROM applications" in s] == []
    assert any("catalog_version" in s for s in statements)
    # An application the catalog read does not hold is looked up.
    statements.clear()
    app2 = {**ASSET, "versions": {"1.0.0": {**V1, "ai_application": "app2"}}}
    write(gallery, Operation(OpKind.CREATE, value=app2), revision=None, asset="tulips")
    assert [s for s in statements if "FROM applications" in s] != []
    # A gallery opened to read (not create=True, as a writing command opens it) keeps none.
    reader = open_gallery(gallery.url, principal=Principal.embedded("acme"))
    assert isinstance(reader, GalleryService)
    reader.catalog([("cn-north-4", "app")])
    statements.clear()
    reader.store.db.set_trace_callback(statements.append)
    write(reader, Operation(OpKind.CREATE, value=ASSET), revision=None, asset="roses")
    assert [s for s in statements if "FROM applications" in s] != []


def refusal(g: GalleryService, body: dict[str, object]) -> str:
    with pytest.raises(GalleryRefusal) as caught:
        create(g, body)
    assert "flowers" not in g.read_state().assets
    return caught.value.code


def test_a_catalog_change_after_the_read_is_seen_by_the_write(gallery: GalleryService) -> None:
    gallery.catalog([("cn-north-4", "app")])  # read while "app" runs no image
    # Changed since (another process could): "app" now runs an image the policy refuses.
    gallery.store.add_application(Application("app", "cn-north-4", "docker.io/x/y:latest"))
    assert refusal(gallery, ASSET) == "image-policy"
    # ...and a category taken out of the taxonomy is, too.
    app2 = {"1.0.0": {**V1, "ai_application": "app2"}}
    gallery.catalog([("cn-north-4", "app2")])
    assert "ocr" in gallery.catalog().categories
    gallery.store.remove_category("ocr")
    assert refusal(gallery, {**ASSET, "categories": ["ocr"], "versions": app2}) == (
        "unknown-category"
    )


def test_a_state_read_against_wanted_assets_reads_whole_only_what_differs(
    gallery: GalleryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("flowers", "tulips", "roses"):
        write(gallery, Operation(OpKind.CREATE, value=ASSET), revision=None, asset=name)
    whole = gallery.read_state().assets
    wanted = {i: a.at_revision(0) for i, a in whole.items()}
    wanted["tulips"] = replace(wanted["tulips"], title="Changed")
    read: list[object] = []
    original = gallery.store.assets

    def reads(**filters: object) -> object:
        read.append(filters)
        return original(**filters)  # type: ignore[arg-type]

    monkeypatch.setattr(gallery.store, "assets", reads)
    assert gallery.read_state(set(wanted), same_as=wanted).assets == whole
    assert read == [{"ids": ["tulips"]}]  # flowers and roses: their digests only
    read.clear()
    gallery.read_state(set(wanted))  # without: every asset read whole
    assert read == [{"publisher": "acme"}]


def test_a_gallery_migrated_with_a_damaged_asset_keeps_no_digests_and_says_the_damage(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    g = open_gallery(url, create=True, principal=Principal.embedded("acme"))
    assert isinstance(g, GalleryService)
    g.add_application(Application("app", "cn-north-4"))
    for name in ("flowers", "tulips"):
        write(g, Operation(OpKind.CREATE, value=ASSET), revision=None, asset=name)
    g.close()
    db = sqlite3.connect(tmp_path / "g.db")  # back to version 3, one asset damaged
    for trigger in ("assets_state_edited", "versions_added", "versions_edited", "versions_removed"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("ALTER TABLE assets DROP COLUMN state_digest")
    db.execute("DELETE FROM schema_migrations WHERE version = 4")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.execute("UPDATE assets SET categories = 'not json{' WHERE id = 'tulips'")
    db.commit()
    db.close()
    again = open_gallery(url, principal=Principal.embedded("acme"))
    assert isinstance(again, GalleryService)
    assert again.store.schema_version() == LATEST
    assert again.store.state_digests("acme") == {"flowers": (None, 1), "tulips": (None, 1)}
    wanted = {i: Asset.from_json(i, "acme", ASSET) for i in ("flowers", "tulips")}
    with pytest.raises(GalleryUnavailable, match=r"assets\.categories of 'tulips' is not JSON"):
        again.read_state(list(wanted), same_as=wanted)
