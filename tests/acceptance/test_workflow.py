"""The CLI end to end, as a user drives it: the example config, prompts, exit codes, galleries."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from helpers import FLOWERS, REPO, Workspace, cli_env, config, copy_example


def test_example_config_creates_then_converges(ws: Workspace) -> None:
    copy_example(ws)
    assert ws.run("validate").code == 0
    first = ws.run("plan", "--detailed-exitcode")
    assert first.code == 2, first.out
    assert "Plan: 3 to create, 0 to update" in first.out
    applied = ws.run("apply", "--auto-approve", "-m", "first publish")
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 3 applied, 0 failed, 0 not tried; writes took " in applied.out
    again = ws.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes." in again.out
    shown = ws.run("show", "--format", "json").json()
    assert sorted(shown) == ["flower-classifier", "invoice-ocr", "support-chat-summarizer"]
    assert shown["flower-classifier"]["visibility"] == "public"
    assert shown["invoice-ocr"]["visibility"] == {"specific_users": ["audit-bot", "finance-team"]}
    history = ws.run("history").out.splitlines()
    assert len(history) == 3 and all("first publish" in line for line in history)


def test_non_interactive_apply_without_approval_is_refused(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    result = ws.run("apply")
    assert result.code == 1
    assert "--auto-approve" in result.err and "plan --out" in result.err
    assert ws.gallery().read_state().assets == {}


def _run_in_tty(ws: Workspace, args: list[str], answer: str) -> tuple[int, str]:
    """Run the CLI with a real pseudo-terminal as stdin/stdout and type `answer` at the prompt."""
    main, secondary = pty.openpty()
    env = cli_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gallery_sync", *args],
        cwd=ws.root,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Only 'yes' will be accepted" in seen:
            os.write(main, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=30)
    os.close(main)
    return code, seen.decode(errors="replace")


def test_apply_on_a_tty_asks_and_applies_only_on_yes(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    code, out = _run_in_tty(ws, ["apply"], "no")
    assert code == 1 and "nothing was written" in out
    assert ws.gallery().read_state().assets == {}
    code, out = _run_in_tty(ws, ["apply"], "yes")
    assert code == 0, out
    assert "\x1b[" in out  # coloured on a terminal
    assert list(ws.gallery().read_state().assets) == ["flowers"]


def test_no_color_turns_colours_off_on_a_tty(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    os.environ["NO_COLOR"] = "1"
    try:
        code, out = _run_in_tty(ws, ["plan"], "")
    finally:
        del os.environ["NO_COLOR"]
    assert code == 0 and "+ asset flowers" in out and "\x1b[" not in out


def test_tour_widen_then_narrow_is_refused_at_its_line(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    widened = ws.run("plan", "--detailed-exitcode")
    assert widened.code == 2
    assert "! Irreversible" in widened.out and "public is final" in widened.out
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    narrowed = ws.run("plan")
    assert narrowed.code == 1
    assert "gallery.yaml:10:5: [error] the asset is public and public is final" in narrowed.out
    assert "(visibility-narrowing)" in narrowed.out
    assert ws.run("apply", "--auto-approve").code == 1
    assert ws.gallery().read_state().assets["flowers"].visibility.name == "public"


def test_plan_exit_codes(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    assert ws.run("plan").code == 0
    assert ws.run("plan", "--detailed-exitcode").code == 2
    ws.write("bad.yaml", config(FLOWERS.format(visibility="everyone")))
    assert ws.run("plan", "-f", "bad.yaml", "--detailed-exitcode").code == 1


def test_gallery_url_flag_and_environment_select_another_gallery(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    other = ws.root / "elsewhere" / "g.db"
    url = f"sqlite:///{other}"
    added = ws.run("apps", "add", "flowers-resnet50", "--region", "cn-north-4", "--gallery", url)
    assert added.code == 0 and added.out == "added: cn-north-4/flowers-resnet50\n"
    assert ws.run("apply", "--auto-approve", "--gallery", url).code == 0
    assert other.exists()
    via_env = ws.run("show", "--format", "json", env={"GALLERY_URL": url}).json()
    assert list(via_env) == ["flowers"]
    # The default gallery was not touched.
    assert ws.run("show", "--format", "json").json() == {}


def test_bad_gallery_url_is_one_line_not_a_traceback(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    result = ws.run("plan", "--gallery", "ftp://x")
    assert result.code == 1
    assert result.err.startswith("error: unknown gallery URL 'ftp://x'")
    not_db = ws.write("not-a-db.db", "this is not sqlite " * 100)
    result = ws.run("plan", "--gallery", f"sqlite:///{not_db}")
    assert result.code == 1 and "cannot open the gallery" in result.err


def test_missing_config_file(ws: Workspace) -> None:
    result = ws.run("validate", "--format", "json")
    assert result.code == 1
    assert result.json()["diagnostics"][0]["code"] == "file-not-found"


def test_usage_errors_exit_1_so_that_2_only_means_changes(ws: Workspace) -> None:
    result = ws.run("plan", "--format", "yaml")
    assert result.code == 1 and "Invalid value for '--format'" in result.err


def test_schema_command_prints_the_schema_file(ws: Workspace) -> None:
    printed = json.loads(ws.run("schema").out)
    on_disk = json.loads((REPO / "schemas" / "gallery.schema.json").read_text())
    assert printed == on_disk


def test_apps_add_and_list(ws: Workspace) -> None:
    added = ws.run("apps", "add", "new-app", "--region", "cn-south-1")
    assert added.out.strip() == "added: cn-south-1/new-app"
    again = ws.run("apps", "add", "new-app", "--region", "cn-south-1")
    assert again.out.strip() == "unchanged: cn-south-1/new-app"
    listed = ws.run("apps", "list").out.splitlines()
    assert "cn-south-1\tnew-app" in listed


def test_validate_reads_a_directory_of_files(ws: Workspace) -> None:
    ws.write("conf/a.yaml", config(FLOWERS.format(visibility="only_me")))
    ws.write(
        "conf/b.yaml", config(FLOWERS.format(visibility="only_me").replace("flowers:", "tulips:"))
    )
    assert ws.run("validate", "-f", "conf").code == 0
    plan = ws.run(
        "plan", "-f", "conf", "--gallery", "sqlite:///.gallery/gallery.db", "--format", "json"
    ).json()
    assert [a["id"] for a in plan["assets"]] == ["flowers", "tulips"]


def test_files_must_agree_on_publisher(ws: Workspace) -> None:
    ws.write("conf/a.yaml", config(FLOWERS.format(visibility="only_me")))
    tulips = FLOWERS.format(visibility="only_me").replace("flowers:", "tulips:")
    ws.write("conf/b.yaml", config(tulips, account="other-ml"))
    result = ws.run("validate", "-f", "conf", "--format", "json")
    assert result.code == 1
    [problem] = result.json()["diagnostics"]
    assert problem["file"] == "conf/b.yaml" and problem["line"] == 2
    assert "publisher differs from the one in conf/a.yaml" in problem["message"]


def test_python_dash_m_and_console_script_agree(ws: Workspace) -> None:
    script = Path(sys.executable).parent / "gallery-sync"
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout == ws.run("--version").out


def _two_assets() -> str:
    tulips = FLOWERS.format(visibility="only_me").replace("flowers:", "tulips:")
    return config(FLOWERS.format(visibility="only_me") + tulips)


def test_target_limits_plan_and_apply(ws: Workspace) -> None:
    ws.write("gallery.yaml", _two_assets())
    plan = ws.run("plan", "--target", "tulips", "--format", "json").json()
    assert [a["id"] for a in plan["assets"]] == ["tulips"]
    assert ws.run("apply", "--target", "tulips", "--auto-approve").code == 0
    assert list(ws.gallery().read_state().assets) == ["tulips"]
    rest = ws.run("plan", "--format", "json").json()
    assert [(a["id"], a["action"]) for a in rest["assets"]] == [
        ("flowers", "create"),
        ("tulips", "no-op"),
    ]
    unknown = ws.run("plan", "--target", "roses")
    assert unknown.code == 1 and "--target roses: no such asset" in unknown.err


def test_prune_discontinues_unmanaged_assets_never_deletes(ws: Workspace) -> None:
    ws.write("gallery.yaml", _two_assets())
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    plain = ws.run("plan", "--format", "json").json()
    assert [(a["id"], a["action"]) for a in plain["assets"]] == [
        ("flowers", "no-op"),
        ("tulips", "unmanaged"),
    ]
    assert plain["summary"]["unmanaged"] == 1 and plain["summary"]["warnings"] == 1
    pruned = ws.run("plan", "--prune", "--format", "json").json()
    assert [(a["id"], a["action"]) for a in pruned["assets"]][1] == ("tulips", "discontinue")
    assert ws.run("apply", "--prune", "--auto-approve").code == 0
    tulips = ws.gallery().read_state().assets["tulips"]
    assert tulips.status.value == "discontinued" and len(tulips.versions) == 1


def test_discontinue_and_release_an_asset(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    assert ws.run("apply", "--auto-approve").code == 0
    gone = FLOWERS.format(visibility="only_me").replace(
        "    versions:", "    status: discontinued\n    versions:"
    )
    ws.write("gallery.yaml", config(gone))
    plan = ws.run("plan", "--format", "json").json()
    assert plan["assets"][0]["action"] == "discontinue"
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    plan = ws.run("plan", "--format", "json").json()
    assert plan["assets"][0]["action"] == "release"
    assert plan["summary"]["release"] == 1
    assert ws.run("apply", "--auto-approve").code == 0
    assert ws.gallery().read_state().assets["flowers"].status.value == "released"


def test_allowed_registries_are_configurable(ws: Workspace) -> None:
    assert ws.run("apps", "registries").out == "swr.*.myhuaweicloud.com\n"
    ws.write(
        "gallery.yaml",
        config(
            FLOWERS.format(visibility="only_me").replace("flowers-resnet50", "summarizer-dockerhub")
        ),
    )
    refused = ws.run("plan", "--format", "json")
    assert refused.code == 1
    assert [(d["code"], d["severity"]) for d in refused.json()["diagnostics"]] == [
        ("image-policy", "error")
    ]
    assert ws.run("apply", "--auto-approve").code == 1
    assert ws.run("apps", "registries", "swr.*.myhuaweicloud.com", "docker.io").code == 0
    assert ws.run("plan", "--format", "json").json()["diagnostics"] == []
    assert ws.run("apply", "--auto-approve").code == 0
    [created] = ws.gallery().history("flowers")
    assert created.change["kind"] == "create"


def test_unwritable_outputs_are_one_line_errors(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    ws.write("blocker", "a file where a directory should be")
    saved = ws.run("plan", "--out", "blocker/plan.json")
    assert saved.code == 1 and saved.err.startswith("error: cannot write the plan to blocker/")
    assert ws.run("apply", "--auto-approve").code == 0
    imported = ws.run("import", "-o", "blocker/gallery.yaml")
    assert imported.code == 1 and imported.err.startswith("error: cannot write blocker/")
