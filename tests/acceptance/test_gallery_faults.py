"""A gallery that fails, through the real CLI: damaged, foreign or newer files, a write failing
mid-batch, a lock held too long, a read-only file, a full disk. Each says what failed, exits
1, reports apply exactly, and leaves nothing half-written."""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gallery_sync.gallery.migrations import LATEST
from helpers import Result, Workspace, cli_env, config

IDS = ["aaa", "bbb", "ccc"]


def assets(ids: list[str], description: str = "") -> str:
    text = f"    description: {description}\n" if description else ""
    return config(
        "".join(
            f"  {i}:\n    title: Asset {i}\n{text}    versions:\n"
            '      - version: "1.0.0"\n        ai_application: flowers-resnet50\n'
            for i in ids
        )
    )


def db_path(ws: Workspace) -> Path:
    return ws.root / ".gallery" / "gallery.db"


def files(ws: Workspace) -> dict[str, bytes]:
    """Every file of the gallery's folder, by name: what "untouched" compares."""
    return {p.name: p.read_bytes() for p in sorted((ws.root / ".gallery").iterdir())}


def state(ws: Workspace) -> tuple[list[str], list[str]]:
    """The asset ids and the audited asset ids, read with plain SQLite."""
    db = sqlite3.connect(db_path(ws))
    try:
        ids = [r[0] for r in db.execute("SELECT id FROM assets ORDER BY id")]
        audited = [r[0] for r in db.execute("SELECT asset FROM audit ORDER BY id")]
    finally:
        db.close()
    return ids, audited


def sql(ws: Workspace, script: str) -> None:
    db = sqlite3.connect(db_path(ws))
    db.executescript(script)
    db.close()


# --- damaged, foreign and newer galleries ---------------------------------------------------


@pytest.mark.parametrize(
    ("script", "how"),
    [
        ("UPDATE assets SET visibility = 'not json{'", "assets.visibility of 'aaa' is not JSON"),
        ("UPDATE assets SET status = 'gone'", "assets.status of 'aaa' is 'gone', not one of"),
        (
            # The search index's and the state digest's triggers name the column: SQLite
            # drops it only without them.
            "DROP TRIGGER assets_fts_insert; DROP TRIGGER assets_fts_update; "
            "DROP TRIGGER assets_fts_delete; DROP TRIGGER assets_state_edited; "
            "ALTER TABLE assets DROP COLUMN title",
            "table assets: no such column: title",
        ),
        (
            "UPDATE assets SET categories = '[1,2]'",
            "assets.categories of 'aaa' is not a list of category names: '[1,2]'",
        ),
        (
            """UPDATE assets SET duration_limit = '{"days": 1e400}'""",
            "assets.duration_limit of 'aaa' is not a duration limit ('unlimited' or days "
            """1..3650, auto_renew): '{"days": 1e400}'""",
        ),
        (
            """UPDATE assets SET visibility = '{"specific_users": "ab"}'""",
            "assets.visibility of 'aaa' is not a list of user names",
        ),
        ("UPDATE assets SET revision = 'abc'", "assets.revision of 'aaa' is not a whole number"),
        ("UPDATE versions SET region = x'00'", "versions.region of 'aaa' 1.0.0 is not text"),
    ],
)
def test_a_damaged_gallery_is_named_by_show_plan_and_apply(
    ws: Workspace, script: str, how: str
) -> None:
    ws.write("gallery.yaml", assets(["aaa"]))
    assert ws.run("apply", "--auto-approve").code == 0
    sql(ws, script)
    before = files(ws)
    expected = f"error: gallery {db_path(ws)} is damaged: {how}"
    ending = " (gallery-unavailable)\n"
    for args in (["show"], ["show", "aaa"], ["plan"], ["apply", "--auto-approve"], ["import"]):
        result = ws.run(*args)
        assert result.code == 1, args
        assert result.err.startswith(expected), (args, result.err)
        assert result.err.endswith(ending) and len(result.err.splitlines()) == 1
    assert files(ws) == before


def test_a_gallery_of_a_newer_format_is_refused_untouched(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets(["aaa"]))
    sql(ws, "UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    before = files(ws)
    for args in (
        ["show"],
        ["plan"],
        ["apply", "--auto-approve"],
        ["apps", "add", "x1", "--region", "cn-north-4"],
    ):
        result = ws.run(*args)
        assert result.code == 1, args
        assert result.err == (
            "error: cannot open the gallery at .gallery/gallery.db: it is of a newer format "
            f"(schema version 7) than this gallery-sync understands ({LATEST}); it was left "
            "untouched. Upgrade gallery-sync to use it (gallery-unavailable)\n"
        )
    assert files(ws) == before


@pytest.mark.parametrize(
    ("value", "how"),
    [("nope", "is not JSON"), ("[1]", "is not a list of registry patterns: '[1]'")],
)
def test_damaged_allowed_registries_are_named(ws: Workspace, value: str, how: str) -> None:
    ws.write("gallery.yaml", assets(["aaa"]))
    sql(ws, f"UPDATE meta SET value = '{value}' WHERE key = 'allowed_registries'")
    for args in (["plan"], ["apply", "--auto-approve"], ["apps", "registries"]):
        result = ws.run(*args)
        assert (result.code, result.err) == (
            1,
            f"error: gallery {db_path(ws)} is damaged: meta.allowed_registries {how} "
            "(gallery-unavailable)\n",
        ), args


def test_a_gallery_without_its_schema_version_is_called_damaged(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets(["aaa"]))
    # Both records of its format gone: the migrations table and meta's schema_version.
    sql(ws, "DELETE FROM meta WHERE key = 'schema_version'")
    sql(ws, "DELETE FROM schema_migrations")
    before = files(ws)
    for args in (["show"], ["plan"], ["apply", "--auto-approve"]):
        result = ws.run(*args)
        assert (result.code, result.err) == (
            1,
            "error: cannot open the gallery at .gallery/gallery.db: it is a damaged gallery: it "
            "has the gallery's tables, but no record of its format (schema_version); it was left "
            "untouched. Restore it from a backup (gallery-unavailable)\n",
        ), args
    assert files(ws) == before


def test_a_database_that_is_not_a_gallery_gets_no_tables_added(ws: Workspace) -> None:
    notes = ws.root / "notes.db"
    db = sqlite3.connect(notes)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()
    before = notes.read_bytes()
    url = f"sqlite:///{notes}"
    for args in (["apps", "add", "app", "--region", "cn-north-4"], ["apps", "registries", "x.io"]):
        result = ws.run(*args, "--gallery", url)
        assert result.code == 1
        assert "it is an SQLite database with tables of its own (notes), not a gallery; it " in (
            result.err
        )
    assert notes.read_bytes() == before
    assert not Path(f"{notes}-wal").exists()


# --- store failures during apply ------------------------------------------------------------


def test_a_write_failing_mid_batch_fails_that_asset_only(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets(IDS))
    sql(
        ws,
        "CREATE TRIGGER no_bbb BEFORE INSERT ON versions WHEN NEW.asset_id = 'bbb' "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
    )
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert (
        f"failed: bbb: the gallery could not store the write: disk says no (gallery "
        f"{db_path(ws)}); nothing of it was kept (gallery-error)\n"
    ) in result.out
    assert "Apply incomplete: 2 applied, 1 failed, 0 not tried" in result.out
    assert state(ws) == (["aaa", "ccc"], ["aaa", "ccc"])  # bbb: no row, no audit entry
    sql(ws, "DROP TRIGGER no_bbb;")
    again = ws.run("plan", "--format", "json").json()
    assert [(a["id"], a["action"]) for a in again["assets"] if a["action"] != "no-op"] == [
        ("bbb", "create")
    ]


@contextmanager
def holding_the_write_lock(ws: Workspace) -> Iterator[None]:
    holder = sqlite3.connect(db_path(ws), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_lock_held_past_the_timeout_fails_each_write_naming_the_lock(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets(IDS))
    with holding_the_write_lock(ws):
        result = ws.run("apply", "--auto-approve", env={"GALLERY_LOCK_TIMEOUT": "0.3"})
    assert result.code == 1
    for asset_id in IDS:
        assert (
            f"failed: {asset_id}: the gallery could not store the write: database is locked: "
            "another process held the gallery's write lock for longer than 0.3 s "
            "(GALLERY_LOCK_TIMEOUT); try again when it is done; nothing of it was kept "
            "(gallery-error)\n"
        ) in result.out
    assert "Apply incomplete: 0 applied, 3 failed, 0 not tried" in result.out
    assert state(ws) == ([], [])
    assert ws.run("apply", "--auto-approve").code == 0  # the lock released, apply converges
    assert state(ws)[0] == IDS


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` read-only even to root: chattr +i where we are root, chmod otherwise."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("cannot make a file read-only for root here (chattr +i)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_read_only_gallery_is_read_but_not_written(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets(["aaa"]))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", assets(IDS))
    before = db_path(ws).read_bytes()
    with read_only(db_path(ws)):
        assert ws.run("show", "aaa").code == 0
        result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert (
        "failed: bbb: the gallery could not store the write: attempt to write a readonly "
        f"database: the gallery is read-only here; check the permissions of {db_path(ws)} and "
        "its folder; nothing of it was kept (gallery-error)\n"
    ) in result.out
    assert "Apply incomplete: 0 applied, 2 failed, 0 not tried" in result.out
    assert db_path(ws).read_bytes() == before


def run_with_file_size_limit(ws: Workspace, limit: int, *args: str) -> Result:
    """The CLI with RLIMIT_FSIZE: a write past `limit` bytes fails as on a full disk."""

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "gallery_sync", *args],
        cwd=ws.root,
        capture_output=True,
        text=True,
        env={**cli_env(), "NO_COLOR": "1"},
        preexec_fn=limit_files,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_a_full_disk_fails_the_writes_and_keeps_nothing(ws: Workspace) -> None:
    ids = [f"asset-{i:03d}" for i in range(200)]
    ws.write("gallery.yaml", assets(ids, description="d" * 400))
    before = state(ws)
    result = run_with_file_size_limit(ws, 64 * 1024, "apply", "--auto-approve")
    assert result.code == 1
    assert (
        "failed: asset-000: the gallery could not store the write: disk I/O error: the gallery "
        f"{db_path(ws)} could not be written (a full disk, a file size limit); nothing of it "
        "was kept (gallery-error)\n"
    ) in result.out
    assert "Apply incomplete: 0 applied, 200 failed, 0 not tried" in result.out
    assert state(ws) == before
    assert ws.run("apply", "--auto-approve").code == 0  # room again: apply converges
    assert len(state(ws)[0]) == 200


def test_an_interrupted_import_leaves_no_config_naming_files_it_did_not_write(
    ws: Workspace,
) -> None:
    ws.write("gallery.yaml", assets(["asset-000"], description="d" * 50_000))
    assert ws.run("apply", "--auto-approve").code == 0
    out = Workspace(ws.root / "out")
    out.root.mkdir()
    url = f"sqlite:///{db_path(ws)}"
    # Room for the config (under 1 KiB) and SQLite's 32 KiB shared memory file, not for the
    # 50,000-byte description file.
    result = run_with_file_size_limit(out, 40_000, "import", "--gallery", url, "-o", "gallery.yaml")
    assert result.code == 1
    assert result.err.startswith("error: cannot write docs/asset-000.md: File too large")
    assert sorted(p.name for p in out.root.rglob("*")) == ["docs"]  # no config, no temporary
