"""`gallery-sync reconcile` (SPEC 9) as a real process over real git repositories: a bare
repository with a clone that commits and pushes, the loop at short intervals, its JSON log
lines and its status server read as a user or Prometheus would.

Every test runs against the embedded gallery; the served gallery runs the same tests once
`gallery-sync serve` exists (see `served_available`)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import APPS, FLOWERS, Result, Workspace, cli_env, config

INTERVAL = 0.5
GS = (sys.executable, "-m", "gallery_sync")
SERVED = importlib.util.find_spec("gallery_sync.server") is not None
NO_SERVE = (
    "needs the served gallery: `gallery-sync serve` (gallery_sync.server, issue 13, branch "
    "h8-serve) is not on this branch yet"
)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


class Repo:
    """A bare repository (what reconcile follows) and a clone people commit in."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        self.clone = root / "clone"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "clone", "-q", str(self.bare), str(self.clone)], check=True)
        git(self.clone, "checkout", "-q", "-b", "main")

    def commit(self, text: str, message: str = "change", name: str = "gallery.yaml") -> str:
        (self.clone / name).write_text(text)
        git(self.clone, "add", "-A")
        git(self.clone, "commit", "-q", "--allow-empty", "-m", message)
        git(self.clone, "push", "-q", "--force", "origin", "main")
        return git(self.clone, "rev-parse", "HEAD")


def flowers(title: str = "Flowers", *, versions: str = "") -> str:
    text = FLOWERS.format(visibility="only_me").replace("title: Flowers", f"title: {title}")
    return config(text + versions)


DRIFT_KINDS = ("drift", "in-step")  # what the reconciler records about drift
V2 = '      - version: "1.1.0"\n        ai_application: flowers-resnet50\n'


class TheGallery:
    """The gallery under test, reached only through the CLI, as a user would."""

    def __init__(self, ws: Workspace, url: str, env: dict[str, str]) -> None:
        self.ws = ws
        self.url = url
        self.env = env

    def run(self, *args: str) -> Result:
        return self.ws.run(*args, "--gallery", self.url, env=self.env)

    def assets(self) -> dict[str, Any]:
        shown = self.run("show", "--format", "json")
        assert shown.code == 0, shown.err
        return shown.json()  # type: ignore[no-any-return]

    def messages(self) -> list[str]:
        """The messages of the changes made (not of the drift the reconciler recorded)."""
        return [e["message"] for e in self.entries() if e["change"]["kind"] not in DRIFT_KINDS]

    def entries(self) -> list[dict[str, Any]]:
        shown = self.run("history", "--format", "json")
        assert shown.code == 0, shown.err
        return shown.json()  # type: ignore[no-any-return]

    def write_outside_git(self, text: str) -> None:
        """Someone changes the gallery by hand: another config, applied from elsewhere."""
        other = self.ws.root / "by-hand"
        other.mkdir(exist_ok=True)
        (other / "gallery.yaml").write_text(text)
        done = self.ws.run(
            "apply",
            "-f",
            str(other / "gallery.yaml"),
            "--gallery",
            self.url,
            "--auto-approve",
            "-m",
            "by hand",
            env=self.env,
        )
        assert done.code == 0, done.out + done.err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("served", marks=pytest.mark.skipif(not SERVED, reason=NO_SERVE)),
    ]
)
def gallery(request: pytest.FixtureRequest, ws: Workspace) -> Iterator[TheGallery]:
    db = ws.root / ".gallery" / "gallery.db"
    if request.param == "embedded":
        yield TheGallery(ws, f"sqlite:///{db}", {})
        return
    # The served gallery: `serve` over the same SQLite store, a publisher token for acme-ml.
    port = free_port()
    store = f"sqlite:///{db}"
    token = ws.run("admin", "token", "create", "--account", "acme-ml", "--store", store)
    assert token.code == 0, token.err
    env = {"GALLERY_TOKEN": token.out.strip()}
    server = Served(ws, store, port)
    try:
        the = TheGallery(ws, f"http://127.0.0.1:{port}", env)
        for name, region, image in APPS:
            extra = ("--image", image) if image else ()
            assert the.run("apps", "add", name, "--region", region, *extra).code == 0
        yield the
    finally:
        server.stop()


class Served:
    """`gallery-sync serve` as a process that can be stopped and started again."""

    def __init__(self, ws: Workspace, store: str, port: int) -> None:
        self.ws, self.store, self.port = ws, store, port
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*GS, "serve", "--store", self.store, "--port", str(self.port)],
            cwd=self.ws.root,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _answers(f"http://127.0.0.1:{self.port}/healthz"), 20, "serve to start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Loop:
    """`gallery-sync reconcile` running: its JSON log lines collected as they come."""

    def __init__(self, ws: Workspace, repo: Repo, the: TheGallery, *args: str) -> None:
        env = {**cli_env(), "NO_COLOR": "1", **the.env}
        self.proc = subprocess.Popen(
            [
                *GS,
                *("reconcile", "--repo", str(repo.bare), "--gallery", the.url),
                *("--interval", str(INTERVAL), "--max-backoff", "1"),
                *("--status-addr", "127.0.0.1:0", "--cache", str(ws.root / "cache")),
                *args,
            ],
            cwd=ws.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        started = self.wait("started")
        self.addr = started["status_addr"]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            self.lines.append(json.loads(line))  # every line is one JSON object

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in list(self.lines)
            if e["event"] == event and all(e.get(k) == v for k, v in match.items())
        ]

    def wait(self, event: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        found = wait_for(lambda: self.events(event, **match), timeout, f"{event} {match}")
        return found[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=5) as answer:
            return str(answer.read().decode())

    def status(self) -> dict[str, Any]:
        return json.loads(self.get("/status"))  # type: ignore[no-any-return]

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        self.close()
        assert "Traceback" not in "".join(self.raw)
        return code


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "git")


@pytest.fixture
def loops() -> Iterator[list[Loop]]:
    started: list[Loop] = []
    yield started
    for loop in started:
        if loop.proc.poll() is None:
            loop.proc.kill()
            loop.proc.wait()
            loop.reader.join(timeout=10)
        loop.close()


def start(loops: list[Loop], ws: Workspace, repo: Repo, the: TheGallery, *args: str) -> Loop:
    loop = Loop(ws, repo, the, *args)
    loops.append(loop)
    return loop


def once(
    ws: Workspace, repo: Repo, the: TheGallery, *args: str, source: Path | None = None
) -> Result:
    """One round of `reconcile --once` from the repo's bare remote (or from `source`)."""
    return ws.run(
        "reconcile",
        "--repo",
        str(source or repo.bare),
        "--gallery",
        the.url,
        "--once",
        "--cache",
        str(ws.root / "cache"),
        *args,
        env=the.env,
    )


def stamp(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# --- commits ---------------------------------------------------------------------------------


def test_a_commit_lands_in_the_gallery_within_two_intervals(
    ws: Workspace, repo: Repo, gallery: TheGallery, loops: list[Loop]
) -> None:
    first = repo.commit(flowers(), "first")
    loop = start(loops, ws, repo, gallery)
    loop.wait("applied", commit=first)
    pushed = time.time()
    second = repo.commit(flowers("Flowers, retrained"), "retitle")
    applied = loop.wait("applied", commit=second)
    assert stamp(applied["time"]) - pushed <= 2 * INTERVAL
    assert gallery.assets()["flowers"]["title"] == "Flowers, retrained"
    assert gallery.messages() == [f"git {second}", f"git {first}"]
    status = loop.status()
    assert status["last_applied"]["commit"] == second
    assert status["fetched_commit"] == second
    assert status["pending"] is None
    assert loop.get("/healthz") == "ok\n"
    metrics = loop.get("/metrics")
    assert f'gallery_sync_reconcile_last_applied_info{{commit="{second}"}} 1.0' in metrics
    assert "gallery_sync_reconcile_applies_total 2.0" in metrics
    assert "gallery_sync_reconcile_drifted_assets 0.0" in metrics
    assert "gallery_sync_reconcile_last_fetch_timestamp_seconds " in metrics
    assert "gallery_sync_reconcile_round_duration_seconds_count " in metrics
    shown = ws.run("reconcile", "status", "--status-addr", loop.addr)
    assert shown.code == 0
    assert shown.json()["last_applied"]["commit"] == second
    assert loop.terminate() == 0
    assert loop.events("stopped")


def test_a_bad_commit_is_not_applied_and_a_later_good_one_is(
    ws: Workspace, repo: Repo, gallery: TheGallery, loops: list[Loop]
) -> None:
    good = repo.commit(flowers(), "good")
    loop = start(loops, ws, repo, gallery)
    loop.wait("applied", commit=good)
    bad = repo.commit(flowers("Renamed") + second_asset(app="no-such-model"), "bad")
    refused = loop.wait("commit-refused", commit=bad)
    [diagnostic] = refused["diagnostics"]
    assert diagnostic["code"] == "application-not-found"
    assert (diagnostic["file"], diagnostic["asset"]) == ("gallery.yaml", "tulips")
    status = wait_for(lambda: (s := loop.status())["state"] == "refused" and s, 10, "refused")
    assert status["pending"]["commit"] == bad
    assert status["pending"]["diagnostics"][0]["code"] == "application-not-found"
    assert status["last_applied"]["commit"] == good
    loop.wait("retry", commit=bad)  # a refused commit is tried again later, with backoff
    assert gallery.assets()["flowers"]["title"] == "Flowers"
    fixed = repo.commit(flowers("Renamed"), "fixed")
    loop.wait("applied", commit=fixed)
    assert gallery.assets()["flowers"]["title"] == "Renamed"
    assert gallery.messages() == [f"git {fixed}", f"git {good}"]
    assert loop.status()["pending"] is None
    assert loop.terminate() == 0


def test_an_invalid_config_is_refused_with_its_place(
    ws: Workspace, repo: Repo, gallery: TheGallery
) -> None:
    repo.commit(flowers().replace("title: Flowers", "title: Flowers\n    colour: red"), "typo")
    done = once(ws, repo, gallery)
    assert done.code == 1
    assert done.out.startswith("refused: main at ")
    [refused] = [json.loads(line) for line in done.err.splitlines() if "commit-refused" in line]
    assert refused["diagnostics"][0]["code"] == "schema"
    assert refused["diagnostics"][0]["file"] == "gallery.yaml"
    assert refused["diagnostics"][0]["line"] == 10
    assert gallery.messages() == []


# --- drift -----------------------------------------------------------------------------------


def test_drift_is_reported_per_asset_and_field_and_left_as_it_is(
    ws: Workspace, repo: Repo, gallery: TheGallery, loops: list[Loop]
) -> None:
    applied = repo.commit(flowers(), "first")
    loop = start(loops, ws, repo, gallery)
    loop.wait("applied", commit=applied)
    gallery.write_outside_git(flowers("Edited by hand"))
    drift = loop.wait("drift", asset="flowers", field="title")
    assert (drift["gallery"], drift["git"], drift["commit"]) == (
        "Edited by hand",
        "Flowers",
        applied,
    )
    status = wait_for(lambda: (s := loop.status())["drifted_assets"] == 1 and s, 10, "drift")
    assert status["state"] == "drifted"
    assert status["drift"] == [
        {
            "asset": "flowers",
            "field": "title",
            "gallery": "Edited by hand",
            "git": "Flowers",
            "revertable": True,
        }
    ]
    assert "gallery_sync_reconcile_drifted_assets 1.0" in loop.get("/metrics")
    rounds = loop.status()["rounds"]
    wait_for(lambda: loop.status()["rounds"] >= rounds + 2, 10, "two more rounds")
    assert gallery.assets()["flowers"]["title"] == "Edited by hand"  # report: never written
    assert len(loop.events("drift")) == 1  # said once, not every round
    assert loop.terminate() == 0


def test_drift_is_reverted_where_the_rules_allow_and_the_rest_reported(
    ws: Workspace, repo: Repo, gallery: TheGallery, loops: list[Loop]
) -> None:
    applied = repo.commit(flowers(), "first")
    loop = start(loops, ws, repo, gallery, "--drift", "revert")
    loop.wait("applied", commit=applied)
    # By hand: a new title (revertable) and a version published outside git (never removable).
    gallery.write_outside_git(flowers("Edited by hand", versions=V2))
    unrevertable = loop.wait("drift-unrevertable", asset="flowers", field="versions[1.1.0]")
    assert unrevertable["why"].startswith("version-removed: ")
    assert unrevertable["gallery"]["ai_application"] == "flowers-resnet50"
    assert unrevertable["git"] is None
    # The asset's own transition is refused as a whole (its title too): reported, not written.
    status = wait_for(lambda: (s := loop.status())["drifted_assets"] == 1 and s, 10, "drift")
    assert {d["field"]: d["revertable"] for d in status["drift"]} == {
        "title": False,
        "versions[1.1.0]": False,
    }
    assert loop.proc.poll() is None  # never a crash

    # Another asset's drift, alone, is reverted.
    both = repo.commit(flowers(versions=V2) + second_asset(), "two assets")
    loop.wait("applied", commit=both)
    gallery.write_outside_git(flowers(versions=V2) + second_asset("Tulips by hand"))
    loop.wait("drift-reverted", commit=both)
    wait_for(lambda: gallery.assets()["tulips"]["title"] == "Tulips", 10, "the revert")
    assert f"git {both} (drift reverted)" in gallery.messages()
    status = wait_for(lambda: (s := loop.status())["state"] == "synced" and s, 10, "synced")
    assert status["drift"] == []
    assert loop.terminate() == 0


def second_asset(title: str = "Tulips", app: str = "flowers-resnet50") -> str:
    return (
        f"  tulips:\n    title: {title}\n    versions:\n"
        f'      - version: "1.0.0"\n        ai_application: {app}\n'
    )


# --- restarts and signals --------------------------------------------------------------------


def test_a_restart_applies_nothing_twice(
    ws: Workspace, repo: Repo, gallery: TheGallery, loops: list[Loop]
) -> None:
    commit = repo.commit(flowers() + second_asset(), "two")
    loop = start(loops, ws, repo, gallery)
    loop.wait("applied", commit=commit)
    assert loop.terminate() == 0
    before = gallery.messages()
    assert before.count(f"git {commit}") == 2
    # A drift made while nothing ran is drift after the restart, not the commit to apply again.
    gallery.write_outside_git(flowers("By hand") + second_asset())
    shutil.rmtree(ws.root / "cache")  # the cache lost too: the audit log is what counts
    again = start(loops, ws, repo, gallery)
    again.wait("audit-read", last_applied=commit)
    again.wait("drift", asset="flowers", field="title")
    assert not again.events("applied")
    assert gallery.messages() == ["by hand", *before]
    recorded = [e["change"] for e in gallery.entries() if e["change"]["kind"] in DRIFT_KINDS]
    assert recorded == [{"kind": "drift", "fields": ["title"], "commit": commit}]
    assert again.terminate() == 0
    assert once(ws, repo, gallery).out == f"drifted: main at {commit[:12]}\n"
    assert gallery.messages() == ["by hand", *before]


def many_assets(n: int) -> str:
    return config(
        "".join(
            f"  asset-{i:05d}:\n    title: Asset {i}\n    versions:\n"
            '      - version: "1.0.0"\n        ai_application: flowers-resnet50\n'
            for i in range(n)
        )
    )


def test_sigterm_mid_apply_finishes_the_batch_exits_0_and_the_next_run_converges(
    ws: Workspace, repo: Repo, gallery: TheGallery, loops: list[Loop]
) -> None:
    n = 3000  # six batches of 500
    commit = repo.commit(many_assets(n), "many")
    loop = start(loops, ws, repo, gallery)
    loop.wait("batch-committed", commit=commit, timeout=120)
    assert loop.terminate() == 0
    finished = loop.wait("apply-finished", commit=commit)
    assert loop.events("stopped")
    # What the report calls applied is exactly what the gallery holds.
    assert len(gallery.assets()) == finished["applied"]
    if finished["interrupted"]:
        assert finished["applied"] % 500 == 0 and 0 < finished["applied"] < n  # whole batches
        # The next run applies the rest, once each: the commit counts as applied only now.
        done = once(ws, repo, gallery)
        assert (done.code, done.out) == (0, f"applied: main at {commit[:12]}\n")
    else:
        # A served gallery writes several batches at once: every batch may be under way when
        # the stop comes, and each one sent is finished and reported, never lost.
        assert gallery.url.startswith("http") and finished["applied"] == n
    assert len(gallery.assets()) == n
    assert gallery.messages().count(f"git {commit}") == n
    assert once(ws, repo, gallery).out == f"synced: main at {commit[:12]}\n"


# --- outages ---------------------------------------------------------------------------------


def test_the_gallery_gone_then_back_is_retried_with_backoff_and_converges(
    ws: Workspace, repo: Repo, loops: list[Loop]
) -> None:
    db = ws.root / ".gallery" / "gallery.db"
    the = TheGallery(ws, f"sqlite:///{db}", {})
    first = repo.commit(flowers(), "first")
    loop = start(loops, ws, repo, the)
    loop.wait("applied", commit=first)
    aside = ws.root / "gallery.db.aside"
    db.rename(aside)  # the gallery is gone (a volume unmounted): never recreated empty
    second = repo.commit(flowers("Second"), "second")
    failed = loop.wait("gallery-failed", commit=second)
    assert failed["code"] == "gallery-unavailable"
    loop.wait("retry", commit=second, outcome="failed")
    status = loop.status()
    assert status["state"] == "failing"
    assert status["last_error"]["code"] == "gallery-unavailable"
    assert not db.exists()
    aside.rename(db)
    loop.wait("applied", commit=second)
    assert the.assets()["flowers"]["title"] == "Second"
    assert the.messages() == [f"git {second}", f"git {first}"]
    assert 'gallery_sync_reconcile_failures_total{stage="gallery"}' in loop.get("/metrics")
    assert loop.terminate() == 0


@pytest.mark.skipif(not SERVED, reason=NO_SERVE)
def test_the_served_gallery_stopped_then_started_is_retried_and_converges(
    ws: Workspace, repo: Repo, loops: list[Loop]
) -> None:
    db = ws.root / ".gallery" / "gallery.db"
    port = free_port()
    store = f"sqlite:///{db}"
    token = ws.run("admin", "token", "create", "--account", "acme-ml", "--store", store)
    the = TheGallery(ws, f"http://127.0.0.1:{port}", {"GALLERY_TOKEN": token.out.strip()})
    server = Served(ws, store, port)
    try:
        assert the.run("apps", "add", "flowers-resnet50", "--region", "cn-north-4").code == 0
        first = repo.commit(flowers(), "first")
        loop = start(loops, ws, repo, the)
        loop.wait("applied", commit=first)
        server.stop()
        second = repo.commit(flowers("Second"), "second")
        assert loop.wait("gallery-failed", commit=second)["code"] == "gallery-unavailable"
        server.start()
        loop.wait("applied", commit=second)
        assert the.messages() == [f"git {second}", f"git {first}"]
        assert token.out.strip() not in "".join(loop.raw)  # never a token in a log line
        assert loop.terminate() == 0
    finally:
        server.stop()


def test_git_unreachable_then_back_and_a_force_push(
    ws: Workspace, repo: Repo, gallery: TheGallery, loops: list[Loop]
) -> None:
    first = repo.commit(flowers(), "first")
    loop = start(loops, ws, repo, gallery)
    loop.wait("applied", commit=first)
    second = repo.commit(flowers("Second"), "second")
    loop.wait("applied", commit=second)
    aside = repo.bare.with_name("moved.git")
    repo.bare.rename(aside)
    failed = loop.wait("git-failed")
    assert failed["code"] == "git-error"
    assert failed["message"].startswith("git fetch failed: ")
    aside.rename(repo.bare)
    # Rewrite the branch: drop `second`, commit something else on `first`.
    git(repo.clone, "reset", "-q", "--hard", first)
    rewritten = repo.commit(flowers("Rewritten"), "rewritten")
    loop.wait("history-rewritten", commit=rewritten, previous=second)
    loop.wait("applied", commit=rewritten)
    status = loop.status()
    assert status["history_rewritten"]["previous"] == second
    assert status["history_rewritten"]["commit"] == rewritten
    assert gallery.assets()["flowers"]["title"] == "Rewritten"
    assert loop.terminate() == 0


# --- --once ----------------------------------------------------------------------------------


def test_once_exits_as_apply_does(ws: Workspace, repo: Repo, gallery: TheGallery) -> None:
    first = repo.commit(flowers(), "first")
    applied = once(ws, repo, gallery)
    assert (applied.code, applied.out) == (0, f"applied: main at {first[:12]}\n")
    synced = once(ws, repo, gallery)
    assert (synced.code, synced.out) == (0, f"synced: main at {first[:12]}\n")
    bad = repo.commit(flowers() + second_asset(app="no-such-model"), "bad")
    refused = once(ws, repo, gallery)
    assert (refused.code, refused.out) == (1, f"refused: main at {bad[:12]}\n")
    repo.commit(flowers(), "fixed")
    assert once(ws, repo, gallery).code == 0
    gallery.write_outside_git(flowers(versions=V2))  # unrevertable drift
    assert once(ws, repo, gallery).code == 0  # report: drift found is not a failure
    assert once(ws, repo, gallery, "--drift", "revert").code == 1  # left over: 1, as apply
    unreachable = once(ws, repo, gallery, source=ws.root / "nowhere")
    assert (unreachable.code, unreachable.out) == (1, "failed: main at (no commit)\n")
    [line] = [json.loads(x) for x in unreachable.err.splitlines() if "git-failed" in x]
    assert line["level"] == "error"
    assert line["code"] == "git-error"


def test_usage_errors_are_one_line(ws: Workspace) -> None:
    missing = ws.run("reconcile")
    assert (missing.code, missing.err) == (
        1,
        "error: reconcile needs --repo PATH_OR_URL (or: reconcile status)\n",
    )
    escaping = ws.run("reconcile", "--repo", ".", "--path", "../gallery.yaml", "--once")
    assert (
        escaping.err
        == "error: --path '../gallery.yaml': a file or directory inside the repository\n"
    )
    nobody = ws.run("reconcile", "status", "--status-addr", f"127.0.0.1:{free_port()}")
    assert nobody.code == 1
    assert nobody.err.startswith("error: no reconcile loop answers at 127.0.0.1:")


def test_the_loop_never_touches_the_working_copy_it_follows(
    ws: Workspace, repo: Repo, gallery: TheGallery
) -> None:
    """--repo may be a clone someone works in: fetched from, never checked out or written."""
    repo.commit(flowers(), "first")
    (repo.clone / "gallery.yaml").write_text(flowers("Uncommitted edit"))
    before = {p: p.stat().st_mtime_ns for p in (repo.clone / ".git").rglob("*") if p.is_file()}
    done = once(ws, repo, gallery, source=repo.clone)
    assert done.code == 0
    assert gallery.assets()["flowers"]["title"] == "Flowers"  # the commit, not the edit
    after = {p: p.stat().st_mtime_ns for p in (repo.clone / ".git").rglob("*") if p.is_file()}
    assert after == before
    assert (repo.clone / "gallery.yaml").read_text() == flowers("Uncommitted edit")
    assert os.listdir(ws.root / "cache")  # the mirror lives in the cache given
