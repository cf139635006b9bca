"""Safe apply with real processes and files: saved plans, stale plans, races, kills, failures."""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from typing import IO

import pytest

from gallery_sync.gallery.service import BATCH_SIZE
from helpers import Workspace, cli_env, config


def assets_yaml(
    ids: list[str], *, title: str, public: bool = False, extra_version: bool = False
) -> str:
    out = []
    for asset_id in ids:
        out.append(f"  {asset_id}:\n    title: {title}\n")
        if public:
            out.append("    visibility: public\n    duration_limit: {days: 30}\n")
        out.append(
            '    versions:\n      - version: "1.0.0"\n        ai_application: flowers-resnet50\n'
        )
        if extra_version:
            out.append('      - version: "1.1.0"\n        ai_application: flowers-resnet50-v3\n')
    return config("".join(out))


def titles(ws: Workspace) -> dict[str, str]:
    return {k: a.title for k, a in ws.gallery().read_state().assets.items()}


def audit_count(ws: Workspace) -> int:
    return len(ws.gallery().history())


# --- saved plans ---------------------------------------------------------------------------


def test_saved_plan_applies_what_was_reviewed_not_the_edited_file(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="Reviewed"))
    saved = ws.run("plan", "--out", "reviewed.plan")
    assert saved.code == 0 and "apply reviewed.plan" in saved.err
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="Edited after review"))
    applied = ws.run(
        "apply", "reviewed.plan"
    )  # no TTY and no --auto-approve: a plan file is approval
    assert applied.code == 0, applied.out + applied.err
    assert titles(ws) == {"flowers": "Reviewed"}
    plan_hash = json.loads((ws.root / "reviewed.plan").read_text())["plan_hash"]
    assert ws.gallery().history()[0].plan_hash == plan_hash


def test_stale_plan_is_refused_whole_before_anything_is_written(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets_yaml(["flowers", "tulips"], title="One"))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", assets_yaml(["flowers", "tulips"], title="Two"))
    assert ws.run("plan", "--out", "two.plan").code == 0
    # Meanwhile someone else retitles tulips.
    ws.write(
        "other.yaml",
        assets_yaml(["flowers", "tulips"], title="One").replace(
            "tulips:\n    title: One", "tulips:\n    title: Other"
        ),
    )
    assert ws.run("apply", "-f", "other.yaml", "--auto-approve", "--target", "tulips").code == 0
    entries = audit_count(ws)
    stale = ws.run("apply", "two.plan")
    assert stale.code == 1
    assert "(stale-plan)" in stale.err
    assert (
        "asset 'tulips' changed in the gallery since the plan was made: revision 1 -> 2"
        in stale.err
    )
    assert "(title changed)" in stale.err
    assert "flowers" not in stale.err
    assert titles(ws) == {"flowers": "One", "tulips": "Other"}
    assert audit_count(ws) == entries


def test_stale_plan_names_every_field_that_moved(ws: Workspace) -> None:
    base = assets_yaml(["flowers"], title="One")
    ws.write("gallery.yaml", base)
    assert ws.run("apply", "--auto-approve").code == 0
    described = base.replace("    title: One\n", "    title: One\n    description: Planned\n")
    ws.write("gallery.yaml", described)
    assert ws.run("plan", "--out", "p.json").code == 0
    # Meanwhile someone else changes the description and the duration limit, and adds a version
    # (the plan touches only the description).
    ws.write(
        "other.yaml",
        base.replace(
            "    title: One\n",
            "    title: One\n    description: Theirs\n    duration_limit: {days: 7}\n",
        ).replace(
            "        ai_application: flowers-resnet50\n",
            "        ai_application: flowers-resnet50\n"
            '      - version: "1.1.0"\n        ai_application: flowers-resnet50-v3\n',
        ),
    )
    assert ws.run("apply", "-f", "other.yaml", "--auto-approve").code == 0
    stale = ws.run("apply", "p.json")
    assert stale.code == 1
    assert stale.err == (
        "asset flowers: [error] asset 'flowers' changed in the gallery since the plan "
        "was made: revision 1 -> 2 (description, duration_limit changed; versions[1.1.0] "
        "added). Nothing was applied; run plan again and review the new plan (stale-plan)\n"
    )


def test_a_plan_with_errors_is_not_saved_and_gets_no_apply_hint(ws: Workspace) -> None:
    ws.write("bad.yaml", assets_yaml(["flowers"], title="X").replace("flowers-resnet50", "nope"))
    refused = ws.run("plan", "-f", "bad.yaml", "--out", "bad.plan")
    assert refused.code == 1
    assert refused.err == (
        "error: the plan has errors; it was not saved to bad.plan. Fix them and plan again\n"
    )
    assert "apply" not in refused.err and not (ws.root / "bad.plan").exists()
    ws.write("invalid.yaml", "apiVersion: nope\n")
    invalid = ws.run("plan", "-f", "invalid.yaml", "--out", "invalid.plan")
    assert invalid.code == 1
    assert invalid.err == "error: the configuration is invalid; no plan was saved to invalid.plan\n"
    assert not (ws.root / "invalid.plan").exists()


def test_saved_plan_refusals(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="X"))
    assert ws.run("plan", "--out", "good.plan").code == 0
    other = ws.run("apply", "good.plan", "--gallery", f"sqlite:///{ws.root / 'other.db'}")
    made_for = f"was made for gallery sqlite:///{ws.root.resolve() / '.gallery' / 'gallery.db'}"
    assert other.code == 1 and made_for in other.err and "(plan-invalid)" in other.err
    assert not (ws.root / "other.db").exists()

    body = json.loads((ws.root / "good.plan").read_text())
    body["format_version"] = "99"
    ws.write("future.plan", json.dumps(body))
    future = ws.run("apply", "future.plan")
    assert future.code == 1 and "format_version '99'" in future.err

    ws.write("junk.plan", "{not json")
    junk = ws.run("apply", "junk.plan")
    assert junk.err == (
        "junk.plan:1:2: [error] plan file junk.plan is not a gallery-sync plan: not JSON "
        "(unexpected character, expected a string key) (plan-invalid)\n"
    )
    missing = ws.run("apply", "missing.plan")
    assert missing.code == 1 and "plan file missing.plan not found (plan-invalid)" in missing.err
    assert ws.gallery().read_state().assets == {}


def test_plan_file_holds_no_secrets_and_revisions(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="X"))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="Y"))
    ws.run("plan", "--out", "p.json", env={"GALLERY_TOKEN": "s3cr3t-token-value"})
    text = (ws.root / "p.json").read_text()
    assert "s3cr3t" not in text
    body = json.loads(text)
    assert body["assets"][0]["revision"] == 1 and len(body["config_hash"]) == 64


# --- audit log -----------------------------------------------------------------------------


def test_audit_message_defaults_to_the_git_commit_and_says_when_modified(ws: Workspace) -> None:
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="X"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=ws.root, check=True)
    subprocess.run([*git, "add", "gallery.yaml"], cwd=ws.root, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=ws.root, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ws.root, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="Y"))
    assert ws.run("apply", "--auto-approve", "--message", "retitle").code == 0
    lines = ws.run("history", "flowers").out.splitlines()
    assert lines[0].endswith("— retitle") and "update-fields" in lines[0]
    assert lines[1].endswith(f"— git {head}") and ": create" in lines[1]
    # An uncommitted config is not HEAD: the record says so.
    ws.write("gallery.yaml", assets_yaml(["flowers"], title="Uncommitted"))
    assert ws.run("apply", "--auto-approve").code == 0
    assert ws.gallery().history()[0].message == f"git {head} (modified)"


# --- partial failure -----------------------------------------------------------------------


def _three_assets_one_failing_to_store(ws: Workspace) -> sqlite3.Connection:
    """aaa, bbb, ccc applied as "One", now "Two" in the config; the store fails bbb's write."""
    ws.write("gallery.yaml", assets_yaml(["aaa", "bbb", "ccc"], title="One"))
    assert ws.run("apply", "--auto-approve").code == 0
    db = sqlite3.connect(ws.root / ".gallery" / "gallery.db")
    db.execute(
        "CREATE TRIGGER injected BEFORE UPDATE ON assets WHEN NEW.id = 'bbb' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    db.commit()
    ws.write("gallery.yaml", assets_yaml(["aaa", "bbb", "ccc"], title="Two"))
    return db


def test_one_assets_failure_stops_that_asset_only(ws: Workspace) -> None:
    db = _three_assets_one_failing_to_store(ws)
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert "failed: bbb: the gallery could not store the write: injected failure" in result.out
    assert "Apply incomplete: 2 applied, 1 failed, 0 not tried; writes took " in result.out
    assert titles(ws) == {"aaa": "Two", "bbb": "One", "ccc": "Two"}
    remaining = ws.run("plan", "--format", "json").json()
    assert [(a["id"], a["action"]) for a in remaining["assets"] if a["action"] != "no-op"] == [
        ("bbb", "update")
    ]
    db.execute("DROP TRIGGER injected")
    db.commit()
    assert ws.run("apply", "--auto-approve").code == 0
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_apply_json_report_carries_every_asset_with_its_codes(ws: Workspace) -> None:
    _three_assets_one_failing_to_store(ws)
    result = ws.run("apply", "--auto-approve", "--format", "json")
    assert result.code == 1
    report = result.json()  # stdout is the JSON alone; the plan and progress went to stderr
    assert "Apply incomplete: 2 applied, 1 failed, 0 not tried" in result.err
    assert report["ok"] is False and report["interrupted"] is False
    assert report["summary"] == {"applied": 2, "failed": 1, "not tried": 0}
    assert [(r["id"], r["outcome"], r["revision"]) for r in report["results"]] == [
        ("aaa", "applied", 2),
        ("bbb", "failed", None),
        ("ccc", "applied", 2),
    ]
    assert [d["code"] for d in report["results"][1]["diagnostics"]] == ["gallery-error"]
    assert report["plan_hash"] == ws.gallery().history()[0].plan_hash
    assert "`apply` again converges" in result.err  # a store failure is transient


def test_image_failing_the_security_check_is_an_error_at_plan_and_never_applied(
    ws: Workspace,
) -> None:
    text = assets_yaml(["summarizer"], title="S").replace(
        "ai_application: flowers-resnet50", "ai_application: summarizer-unpinned"
    )
    ws.write("gallery.yaml", text)
    plan = ws.run("plan")
    assert plan.code == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "summarizer-unpinned" in t)
    assert (
        f"gallery.yaml:{line}:9: [error] version 1.0.0: AI application 'summarizer-unpinned'"
        in (plan.out)
    )
    assert "it is not pinned by digest" in plan.out and "(image-policy)" in plan.out
    assert ws.run("plan", "--out", "p.json").code == 1 and not (ws.root / "p.json").exists()
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 1 and "(image-policy)" in applied.out
    assert ws.gallery().read_state().assets == {}


def test_a_rule_refusal_at_apply_is_not_called_transient(ws: Workspace) -> None:
    # Planned while docker.io was allowed; the operator narrows the registries before apply.
    text = assets_yaml(["summarizer"], title="S").replace(
        "ai_application: flowers-resnet50", "ai_application: summarizer-dockerhub"
    )
    ws.write("gallery.yaml", text)
    assert ws.run("apps", "registries", "swr.*.myhuaweicloud.com", "docker.io").code == 0
    assert ws.run("plan", "--out", "p.json").code == 0
    assert ws.run("apps", "registries", "swr.*.myhuaweicloud.com").code == 0
    applied = ws.run("apply", "p.json")
    assert applied.code == 1
    assert "(image-policy)" in applied.out
    assert "converges" not in applied.out
    assert applied.out.splitlines()[-1] == (
        "The image-policy failures will recur until their cause is fixed: do what each message "
        "above says, then run `gallery-sync plan` and apply again."
    )
    assert ws.gallery().read_state().assets == {}


# --- concurrency ---------------------------------------------------------------------------


def _spawn(ws: Workspace, *args: str) -> subprocess.Popen[str]:
    env = cli_env()
    return subprocess.Popen(
        [sys.executable, "-m", "gallery_sync", *args],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_applies_racing_lose_no_write(ws: Workspace) -> None:
    ids = [f"asset-{i:03d}" for i in range(150)]
    ws.write("gallery.yaml", assets_yaml(ids, title="Base"))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("x.yaml", assets_yaml(ids, title="X"))
    ws.write("y.yaml", assets_yaml(ids, title="Y"))
    before = audit_count(ws)
    procs = [_spawn(ws, "apply", "-f", f, "--auto-approve") for f in ("x.yaml", "y.yaml")]
    outputs = [p.communicate(timeout=300) for p in procs]
    applied = sum(out.count(": applied\n") for out, _ in outputs)
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode in (0, 1), err
        assert "Traceback" not in err
        for line in out.splitlines():
            if line.startswith("failed:"):
                assert line.endswith("(conflict)"), line
    state = ws.gallery().read_state().assets
    assert {a.title for a in state.values()} <= {"X", "Y"}
    assert all(a.title in ("X", "Y") for a in state.values())
    # Every applied write is in the audit log, and each asset's revision counts its writes.
    assert audit_count(ws) - before == applied
    writes = {k: 0 for k in ids}
    for entry in ws.gallery().history()[: audit_count(ws) - before]:
        writes[entry.asset] += 1
    assert all(state[k].revision == 1 + writes[k] for k in ids)
    assert applied >= len(ids)


# --- crash safety --------------------------------------------------------------------------


def _whole(asset: object) -> str:
    """'A' or 'B' when the asset is wholly one state, else 'mixed'."""
    a = asset  # type: ignore[assignment]
    old = (a.title, a.visibility.name, len(a.versions), a.duration_limit.days, a.revision)  # type: ignore[attr-defined]
    if old == ("A", "only_me", 1, None, 1):
        return "A"
    if old == ("B", "public", 2, 30, 2):
        return "B"
    return f"mixed {old}"


def _spawn_on_small_pipe(ws: Workspace, *args: str) -> tuple[subprocess.Popen[bytes], IO[str]]:
    """The CLI with its stdout on a 4 KiB pipe: it blocks once that much is unread, so the
    reader decides how far it gets (no timing involved)."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gallery_sync", *args],
        cwd=ws.root,
        stdout=write_end,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
    )
    os.close(write_end)
    return proc, os.fdopen(read_end, "r")


def test_apply_killed_at_random_moments_leaves_every_asset_whole(ws: Workspace) -> None:
    rng = random.Random(20261125)
    ids = [f"asset-{i:04d}" for i in range(2000)]
    ws.write("a.yaml", assets_yaml(ids, title="A"))
    assert ws.run("apply", "-f", "a.yaml", "--auto-approve").code == 0
    ws.write("b.yaml", assets_yaml(ids, title="B", public=True, extra_version=True))
    db_path = ws.root / ".gallery" / "gallery.db"
    snapshot = sqlite3.connect(ws.root / "all-a.db")
    with sqlite3.connect(db_path) as db:
        db.backup(snapshot)
    for _ in range(4):
        with sqlite3.connect(db_path) as db:  # every round starts with 2,000 assets to write
            snapshot.backup(db)
        proc, lines = _spawn_on_small_pipe(ws, "apply", "-f", "b.yaml", "--auto-approve")
        # The child is at most 4 KiB (pipe) + 8 KiB (our read buffer), ~400 lines, ahead of
        # what was read: having read at most 1,500 of its 2,000 lines, it cannot have finished.
        # The kill lands while it waits to print a batch, or writes or commits the next one.
        stop_after = rng.randint(1, 1500)
        seen = 0
        for line in lines:
            seen += ": applied" in line
            if seen >= stop_after:
                break
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=120) == -signal.SIGKILL  # killed mid-apply, every round
        lines.close()
        db = sqlite3.connect(db_path)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
        states = {k: _whole(a) for k, a in ws.gallery().read_state().assets.items()}
        assert set(states.values()) <= {"A", "B"}, [
            s for s in states.values() if s.startswith("mixed")
        ][:3]
        assert len(states) == len(ids)
        assert list(states.values()).count("B") >= stop_after  # what was reported, was written
    snapshot.close()
    final = ws.run("apply", "-f", "b.yaml", "--auto-approve")
    assert final.code == 0, final.out[-2000:]
    assert ws.run("plan", "-f", "b.yaml", "--detailed-exitcode").code == 0
    assert {_whole(a) for a in ws.gallery().read_state().assets.values()} == {"B"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_reports_what_was_not_tried(ws: Workspace, signum: signal.Signals) -> None:
    # Writes commit in batches of BATCH_SIZE; Ctrl-C (or a CI runner's SIGTERM) stops after the
    # batch in flight, so the run needs many batches to still have work left when it lands.
    total = 10 * BATCH_SIZE
    ids = [f"asset-{i:04d}" for i in range(total)]
    ws.write("gallery.yaml", assets_yaml(ids, title="A"))
    # On a 4 KiB pipe the child is at most ~400 lines ahead of the reader: with 5,000 progress
    # lines to print, it cannot have finished when the signal is sent.
    proc, lines = _spawn_on_small_pipe(ws, "apply", "--auto-approve")
    for line in lines:
        if line.startswith("[5/"):
            proc.send_signal(signum)
            break
    out = lines.read()
    lines.close()
    assert proc.wait(timeout=120) == 1
    applied = len(ws.gallery().read_state().assets)
    assert 5 <= applied < total
    assert applied % BATCH_SIZE == 0  # whole batches: what was reported applied, was
    left = [f"asset-{i:04d}" for i in range(applied, total)]
    # The not-tried list is bounded: the first ten, then a count (JSON has them all).
    assert (
        f"not tried: {', '.join(left[:10])}, and {len(left) - 10:,} more "
        "(`apply --format json` lists all)\n"
    ) in out
    assert f"Apply interrupted: {applied} applied, 0 failed, {total - applied} not tried; " in out
    assert "Run `gallery-sync plan` to see what remains; `apply` again converges." in out
