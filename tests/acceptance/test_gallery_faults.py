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
        ("ALTER TABLE assets DROP COLUMN title", "table assets: no such column: title"),
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
    for args in (["show"], ["show", "aaa"], ["plan"], ["apply", "--auto-approve"], ["import"]):
        result = ws.run(*args)
        assert result.code == 1, args
        assert result.err.startswith(expected), (args, result.err)
        assert len(result.err.splitlines()) == 1
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
            "untouched. Upgrade gallery-sync to use it\n"
        )
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
