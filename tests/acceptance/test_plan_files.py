"""Saved plan files as untrusted input: tampered, damaged, special, pinned, moved, unwritable."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gallery_sync.plan import Plan
from gallery_sync.saved import full_entry
from helpers import FLOWERS, PNG, REPO, Workspace, cli_env, config

Body = dict[str, Any]

TULIPS = """  tulips:
    title: Tulips
    cover: tulips.png
    versions:
      - version: "1.0.0"
        ai_application: flowers-resnet50
"""


def reviewed_plan(ws: Workspace, form: str = "saved") -> Body:
    """A gallery with flowers (to update), lilies (unmanaged: a warning), and a saved plan that
    retitles flowers and creates tulips with a cover: as `plan --out` saves it, or (form
    "json") as `plan --format json` prints it, which `apply FILE` reads as well."""
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    lilies = FLOWERS.format(visibility="only_me").replace("flowers:", "lilies:")
    ws.write("lilies.yaml", config(lilies))
    assert ws.run("apply", "--auto-approve").code == 0
    assert ws.run("apply", "-f", "lilies.yaml", "--auto-approve").code == 0
    (ws.root / "tulips.png").write_bytes(PNG)
    ws.write(
        "gallery.yaml",
        config(FLOWERS.format(visibility="only_me").replace("Flowers", "Roses") + TULIPS),
    )
    saved = ws.run("plan", "--out", "p.json")
    assert saved.code == 0, saved.out + saved.err
    if form == "json":
        (ws.root / "p.json").write_text(ws.run("plan", "--format", "json").out)
    body: Body = json.loads((ws.root / "p.json").read_text())
    assert [d["code"] for d in body["diagnostics"]] == ["unmanaged-asset"]
    return body


def gallery_snapshot(ws: Workspace) -> tuple[Any, int]:
    gallery = ws.gallery()
    return {k: (a.title, a.revision) for k, a in gallery.read_state().assets.items()}, len(
        gallery.history()
    )


def _asset(body: Body, asset_id: str) -> Body:
    found: Body = next(a for a in body["assets"] if a["id"] == asset_id)
    return found


RETITLE = {"kind": "update-fields", "version": None, "value": {"title": "Roses"}}


def _set_op_visibility(body: Body) -> None:
    # A saved plan keeps an existing asset's changes and derives its operations from them.
    _asset(body, "flowers").setdefault("operations", [RETITLE]).append(
        {"kind": "set-visibility", "version": None, "value": "public"}
    )


def _edit_create(body: Body) -> None:
    tulips = _asset(body, "tulips")  # a saved plan holds a new asset as its value alone
    value = tulips["create"] if "create" in tulips else tulips["operations"][0]["value"]
    value["visibility"] = "public"


def _set(key: str, value: Any) -> Callable[[Body], None]:
    return lambda body: body.__setitem__(key, value)


def _set_asset(asset_id: str, key: str, value: Any) -> Callable[[Body], None]:
    return lambda body: _asset(body, asset_id).__setitem__(key, value)


# Every edit of what apply reads, or of what a reviewer saw, is caught by the plan hash.
TAMPERINGS: dict[str, Callable[[Body], None]] = {
    "operation-added": _set_op_visibility,
    "create-value-edited": _edit_create,
    "gallery": _set("gallery", "sqlite:////nonexistent/other.db"),
    "publisher": _set("publisher", "other-ml"),
    "config-hash": _set("config_hash", "0" * 64),
    "agreements": _set("accepted_agreements", ["digital-content-publishing"]),
    "covers": lambda body: body["covers"].update({k: "/etc/hostname" for k in body["covers"]}),
    "warning-deleted": _set("diagnostics", []),
    "summary": lambda body: body["summary"].update(create=0),
    "revision": _set_asset("flowers", "revision", 7),
    "action": _set_asset("flowers", "action", "discontinue"),
    "refused": _set_asset("flowers", "refused", True),
    "read": _set_asset("flowers", "read", {}),
    "change-shown": lambda body: _asset(body, "flowers")["changes"][0].update(after="Tulips"),
    # A saved plan derives a new asset's changes from its create operation; given, they count.
    "new-asset-change-shown": _set_asset(
        "tulips",
        "changes",
        [
            {
                "field": "title",
                "op": "add",
                "before": None,
                "after": "Roses",
                "risk": "reversible",
                "why": None,
            }
        ],
    ),
}


@pytest.mark.parametrize(
    ("name", "form"),
    [
        (name, form)
        for name in sorted(TAMPERINGS)
        for form in ("saved", "json")
        if (name, form) != ("summary", "saved")  # a saved plan's summary is counted on load
    ],
)
def test_an_edited_plan_is_refused_before_the_gallery_is_read(
    ws: Workspace, name: str, form: str
) -> None:
    body = reviewed_plan(ws, form)
    before = gallery_snapshot(ws)
    TAMPERINGS[name](body)
    ws.write("edited.json", json.dumps(body, indent=2))
    result = ws.run("apply", "edited.json")
    assert result.code == 1
    assert result.out == ""
    assert result.err == (
        f"edited.json:1:1: [error] plan file edited.json does not match its plan_hash "
        f"{body['plan_hash'][:12]}…: it was changed after it was made. Nothing was applied; "
        "plan again and review the new plan (plan-invalid)\n"
    )
    assert gallery_snapshot(ws) == before


def test_a_rehashed_forgery_is_refused_by_the_pinned_plan_hash(ws: Workspace) -> None:
    body = reviewed_plan(ws)
    reviewed = body["plan_hash"]
    before = gallery_snapshot(ws)
    _set_op_visibility(body)
    # A forger who rewrites the hash too: of the whole plan the file stands for.
    full = {k: v for k, v in body.items() if k not in ("form", "plan_hash")}
    full["assets"] = [full_entry(a, body["publisher"]) for a in body["assets"]]
    body["plan_hash"] = Plan.from_json(full).digest()
    ws.write("forged.json", json.dumps(body))
    pinned = ws.run("apply", "forged.json", "--plan-hash", reviewed)
    assert pinned.code == 1
    assert pinned.err == (
        f"[error] plan file forged.json has plan hash {body['plan_hash']}, not "
        f"{reviewed} as --plan-hash requires; nothing was applied (plan-invalid)\n"
    )
    prefix = ws.run("apply", "p.json", "--plan-hash", reviewed[:12])
    assert prefix.code == 1
    assert f"--plan-hash '{reviewed[:12]}' is not a plan hash: give all 64 hex digits" in (
        prefix.err
    )
    assert gallery_snapshot(ws) == before
    applied = ws.run("apply", "p.json", "--plan-hash", reviewed.upper())
    assert applied.code == 0, applied.out + applied.err
    assert ws.gallery().history()[0].plan_hash == reviewed
    assert ws.run("apply", "--plan-hash", reviewed, "--auto-approve").code == 1


def test_a_saved_plan_applies_to_its_gallery_from_any_directory(ws: Workspace) -> None:
    body = reviewed_plan(ws)
    assert body["gallery"] == f"sqlite:///{(ws.root / '.gallery' / 'gallery.db').resolve()}"
    elsewhere = ws.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "gallery.yaml").write_text(config(""))
    env = {**cli_env(), "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "gallery_sync", "apply", str(ws.root / "p.json")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (elsewhere / ".gallery").exists()
    state = ws.gallery().read_state().assets
    assert state["flowers"].title == "Roses" and state["tulips"].cover is not None


def test_gallery_flag_naming_the_plans_gallery_relatively_is_the_same_gallery(
    ws: Workspace,
) -> None:
    reviewed_plan(ws)
    other = ws.run("apply", "p.json", "--gallery", "sqlite:///.gallery/other.db")
    assert other.code == 1 and "was made for gallery sqlite:///" in other.err
    same = ws.run("apply", "p.json", "--gallery", "sqlite:///.gallery/../.gallery/gallery.db")
    assert same.code == 0, same.out + same.err


def test_a_cover_replaced_after_the_plan_is_refused_before_writing(ws: Workspace) -> None:
    reviewed_plan(ws)
    before = gallery_snapshot(ws)
    (ws.root / "tulips.png").write_bytes(PNG + b"changed")
    changed = ws.run("apply", "p.json")
    assert changed.code == 1
    assert f"cover image {ws.root.resolve() / 'tulips.png'} changed since the plan was made" in (
        changed.err
    )
    assert "(cover-invalid)" in changed.err
    (ws.root / "tulips.png").unlink()
    os.mkfifo(ws.root / "tulips.png")
    started = time.monotonic()
    fifo = ws.run("apply", "p.json")
    assert time.monotonic() - started < 2
    assert fifo.code == 1 and "is a FIFO (named pipe), not a regular file" in fifo.err
    assert gallery_snapshot(ws) == before


# --- damaged plan files: each one line, plan-invalid, exit 1, within 2 s -------------------


def _deep(depth: int) -> str:
    return '{"format_version": "1", "assets": ' + "[" * depth + "]" * depth + "}"


DAMAGED: dict[str, tuple[str, str]] = {  # name: (file content, what the message must say)
    "diagnostics-of-lists": ("", 'plan.diagnostics[0]: [] is not of type "object"'),
    "huge-revision": ("", "not JSON (number is infinity when parsed as double)"),
    "deep-nesting": (_deep(100_000), "not JSON (depth limit exceeded)"),
    "asset-id-path": ("", 'plan.assets[0].id: "../../../pwned" does not match'),
    "trailing-newline-id": ("", 'plan.assets[0].id: "flowers\\n" does not match'),
    "top-level-list": ("[1, 2]", "is not a gallery-sync plan (no format_version)"),
    "empty": ("", "plan file damaged.json is empty; `plan --out FILE` writes a plan"),
    "invalid-utf8": ("", "not JSON (str is not valid UTF-8"),
}


def _damage(ws: Workspace, name: str) -> str:
    text, _ = DAMAGED[name]
    if text or name == "empty":
        return text
    body = json.loads((ws.root / "p.json").read_text())
    flowers = _asset(body, "flowers")
    if name == "diagnostics-of-lists":
        body["diagnostics"] = [[]]
    elif name == "huge-revision":
        return json.dumps(body).replace('"revision": 1', '"revision": ' + "1" * 5000)
    elif name == "asset-id-path":
        flowers["id"] = "../../../pwned"
    elif name == "trailing-newline-id":
        flowers["id"] = "flowers\n"
    elif name == "invalid-utf8":
        return json.dumps(body, ensure_ascii=False).replace("Roses", "Ros\udcffes", 1)
    return json.dumps(body)


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_plan_file_is_one_line_plan_invalid(ws: Workspace, name: str) -> None:
    reviewed_plan(ws)
    before = gallery_snapshot(ws)
    text = _damage(ws, name)
    (ws.root / "damaged.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    started = time.monotonic()
    result = ws.run("apply", "damaged.json")
    assert time.monotonic() - started < 2
    assert result.code == 1 and result.out == ""
    [line] = result.err.splitlines()
    assert line.endswith("(plan-invalid)") and DAMAGED[name][1] in line, line
    assert gallery_snapshot(ws) == before


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "directory"])
def test_a_special_file_as_the_plan_is_refused_at_once(ws: Workspace, special: str) -> None:
    path = {"fifo": "plan.fifo", "directory": "plan.d", "/dev/zero": "/dev/zero"}[special]
    if special == "fifo":
        os.mkfifo(ws.root / path)
    elif special == "directory":
        (ws.root / path).mkdir()
    started = time.monotonic()
    result = ws.run("apply", path)
    assert time.monotonic() - started < 2
    assert result.code == 1
    kind = {
        "fifo": "a FIFO (named pipe), not a regular file",
        "directory": "a directory, not a regular file",
    }
    expected = kind.get(special, "a character device, not a regular file")
    assert result.err == f"[error] plan file {path} is {expected} (plan-invalid)\n"


# --- plan --out: a failed write leaves nothing behind --------------------------------------


def test_plan_out_that_cannot_be_written_leaves_no_temporary_file(ws: Workspace) -> None:
    described = FLOWERS.format(visibility="only_me").replace(
        "    versions:", "    description: " + "x" * 4000 + "\n    versions:"
    )
    many = "".join(described.replace("flowers:", f"flowers-{i:03d}:") for i in range(300))
    ws.write("gallery.yaml", config(many))

    def small_files() -> None:  # as a full disk does: writes past 1 MiB fail (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    run = subprocess.run(
        [sys.executable, "-m", "gallery_sync", "plan", "--out", "p.json"],
        cwd=ws.root,
        capture_output=True,
        text=True,
        env={**cli_env(), "NO_COLOR": "1"},
        preexec_fn=small_files,
        check=False,
    )
    # The plan is ~2.5 MB (each description twice): over the limit.
    assert run.returncode == 1
    assert (
        run.stderr == "error: cannot write the plan to p.json: File too large; nothing was saved\n"
    )
    assert sorted(p.name for p in ws.root.iterdir()) == [".gallery", "gallery.yaml"]
    missing_dir = ws.run("plan", "--out", "no/such/dir/p.json")
    assert missing_dir.code == 1
    assert missing_dir.err == (
        "error: cannot write the plan to no/such/dir/p.json: No such file or directory; "
        "nothing was saved\n"
    )
    assert sorted(p.name for p in ws.root.iterdir()) == [".gallery", "gallery.yaml"]


def test_plan_out_file_is_small_and_conforms(ws: Workspace) -> None:
    body = reviewed_plan(ws)
    flowers = _asset(body, "flowers")
    assert sorted(flowers["read"]) == [
        "categories",
        "cover",
        "description",
        "duration_limit",
        "status",
        "title",
        "versions[1.0.0]",
        "visibility",
    ]
    assert all(len(d) == 16 for d in flowers["read"].values())
    tulips = _asset(body, "tulips")
    assert "read" not in tulips and "changes" not in tulips  # nothing read; derived on load
    assert Path(body["covers"][next(iter(body["covers"]))]).is_absolute()


def test_a_saved_plan_is_applied_whole_never_narrowed_or_widened(ws: Workspace) -> None:
    reviewed_plan(ws)
    before = gallery_snapshot(ws)
    for extra in (
        ["--target", "flowers"],
        ["-f", "gallery.yaml"],
        ["--prune"],
    ):
        result = ws.run("apply", "p.json", *extra, "--auto-approve")
        assert (result.code, result.out, result.err) == (
            1,
            "",
            "error: a saved plan is applied whole; plan again with --target to narrow it "
            "(-f, --prune and --target do not go with PLANFILE)\n",
        ), extra
    assert gallery_snapshot(ws) == before


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_saved_plan_file_honours_the_umask(ws: Workspace, umask: int, mode: int) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    env = {**cli_env(), "NO_COLOR": "1"}
    run = subprocess.run(
        [
            "sh",
            "-c",
            f'umask {umask:03o} && exec "$0" -m gallery_sync plan --out p.json',
            sys.executable,
        ],
        cwd=ws.root,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (ws.root / "p.json").stat().st_mode & 0o777 == mode


def test_a_saved_plan_of_new_assets_is_near_its_config_and_applies(ws: Workspace) -> None:
    """At bench shape (every field, a cover each, version notes): `plan --out` stores each
    value once; applied, then a 1% change saved and applied, the gallery matches the config."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench import fresh_gallery
    from generate import write_config

    write_config(ws.root / "gallery.yaml", 300)
    fresh_gallery(ws.root / ".gallery" / "gallery.db", 300)
    assert ws.run("plan", "--out", "new.json").code == 0
    config_size = (ws.root / "gallery.yaml").stat().st_size
    assert (ws.root / "new.json").stat().st_size <= 1.5 * config_size
    applied = ws.run("apply", "new.json")
    assert applied.code == 0 and "300 applied, 0 failed" in applied.out, applied.err
    write_config(ws.root / "gallery.yaml", 300, changed=0.05)
    assert ws.run("plan", "--out", "changed.json").code == 0
    body = json.loads((ws.root / "changed.json").read_text())
    updated = [a for a in body["assets"] if a["action"] == "update"]
    assert updated and all("operations" not in a for a in updated)  # derived from the changes
    shown = ws.run("plan").out
    applied = ws.run("apply", "changed.json")
    assert applied.code == 0 and f"{len(updated)} applied, 0 failed" in applied.out
    assert applied.out.startswith(shown.split("Plan hash:")[0])  # the same changes, shown again
    assert "No changes." in ws.run("plan").out
