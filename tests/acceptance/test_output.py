"""What a person reads from the real CLI: escaped values, the plan hash, refused changes,
colours only where they belong, and a Ctrl-C at the prompt on its own line."""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time
from pathlib import Path

from helpers import FLOWERS, Workspace, cli_env, config

# A title is one line without controls (the schema refuses them); a description may hold any.
HOSTILE = FLOWERS.replace(
    "title: Flowers", 'title: Flowers\n    description: "Flo\\e]0;pwned\\a\\x9b\\u202ewers\\e[2J"'
)
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def run_in_pty(
    root: Path, *args: str, env: dict[str, str], answer: bytes = b"", after: bytes = b""
) -> tuple[int, str]:
    """The CLI on a terminal; `answer` is typed once `after` has been printed."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(root)
        os.execve(sys.executable, [sys.executable, "-m", "gallery_sync", *args], env)
    output, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if answer and after in output:
                # Let the child block in its read first: a SIGINT that lands just before the
                # read() starts is only noticed after it (CPython's own race, not ours).
                time.sleep(0.5)
                os.write(fd, answer)
                answer = b""
    if time.monotonic() >= deadline:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode().replace("\r\n", "\n")


def test_terminal_escapes_in_values_never_reach_the_screen(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(HOSTILE.format(visibility="only_me")))
    plan = ws.run("plan")
    assert plan.code == 0, plan.err
    assert '    + description: "Flo\\u001b]0;pwned\\u0007\\x9b\\u202ewers\\u001b[2J"\n' in plan.out
    markdown = ws.run("plan", "--format", "markdown")
    assert (
        '| description |  | "Flo\\u001b]0;pwned\\u0007\\x9b\\u202ewers\\u001b[2J" |\n'
        in markdown.out
    )
    named = ws.write("g\x1b]0;x\x07.yaml", config(FLOWERS.format(visibility="everyone")))
    validated = ws.run("validate", "-f", named.name)
    assert validated.out.startswith("g\\x1b]0;x\\x07.yaml:10:5: [error] visibility: ")
    github = ws.run("validate", "-f", named.name, "--format", "github")
    assert github.out.startswith("::error file=g\\x1b]0;x\\x07.yaml,line=10,col=5,title=schema")
    missing = ws.run("plan", "-f", "nope\u202e.yaml")
    assert missing.code == 1
    assert "[error] config file nope\\u202e.yaml not found (file-not-found)\n" in missing.out
    for result in (plan, markdown, validated, github, missing):
        assert not CONTROLS.search(result.out + result.err)


def test_the_plan_hash_is_shown_in_every_format(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    digest = ws.run("plan", "--format", "json").json()["plan_hash"]
    assert re.fullmatch("[0-9a-f]{64}", digest)
    assert ws.run("plan").out.endswith(f"\nPlan hash: {digest}\n")
    markdown = ws.run("plan", "--format", "markdown").out
    assert f"\nPlan hash: `{digest}` — " in markdown
    assert f"`gallery-sync apply PLANFILE --plan-hash {digest}`" in markdown
    github = ws.run("plan", "--format", "github").out
    assert github.endswith(f". Plan hash: {digest}\n")


def test_a_refused_narrowing_is_shown_refused_and_counted_nowhere(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    text = ws.run("plan")
    assert text.code == 1
    assert text.out.endswith(
        "(visibility-narrowing)\n"
        "\n"
        "x asset flowers: refused (see the errors above)\n"
        "\n"
        "The plan has errors: nothing can be applied.\n"
        "Plan: 0 to create, 0 to update, 0 to discontinue, 0 to release (1 error).\n"
    )
    markdown = ws.run("plan", "--format", "markdown").out
    assert markdown.startswith(
        "### gallery-sync plan: 0 to create, 0 to update, 0 to discontinue, 0 to release "
        "(1 error)\n\n#### ❌ Errors\n\n- `gallery.yaml:10` **visibility-narrowing**: "
    )
    assert "#### ⛔ Refused — these assets break a rule: nothing of them is written\n" in markdown
    for out in (text.out, markdown):
        assert "1 to update" not in out and "rreversible" not in out and "Plan hash" not in out


def test_no_colours_on_a_dumb_terminal_nor_with_no_color(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    env = {**cli_env("NO_COLOR"), "TERM": "xterm"}
    code, coloured = run_in_pty(ws.root, "plan", env=env)
    assert code == 0 and "\x1b[32m\x1b[1m+ asset flowers\x1b[0m will be created" in coloured
    for plain_env in ({**env, "TERM": "dumb"}, {**env, "NO_COLOR": "1"}):
        code, out = run_in_pty(ws.root, "plan", env=plain_env)
        assert code == 0 and "\x1b" not in out
        assert "\n+ asset flowers will be created\n" in out


def test_ctrl_c_at_the_prompt_answers_on_a_new_line(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    prompt = b"Only 'yes' will be accepted: "
    env = {**cli_env(), "NO_COLOR": "1"}
    for key in (b"\x03", b"\x04"):  # Ctrl-C, Ctrl-D
        code, out = run_in_pty(ws.root, "apply", env=env, answer=key, after=prompt)
        assert code == 1
        assert re.search(
            r"Apply these changes\? Only 'yes' will be accepted: (\^C)?\n"
            r"Apply cancelled; nothing was written\.\n$",
            out,
        ), out
    assert ws.run("show").out == "The gallery holds no assets.\n"


def test_format_options_say_what_each_format_is_for(ws: Workspace) -> None:
    plan_help = " ".join(ws.run("plan", "--help").out.split())
    assert "markdown: a pull-request comment (under 60,000 characters)" in plan_help
    assert "github: ::error workflow commands that annotate a pull request" in plan_help
    validate_help = " ".join(ws.run("validate", "--help").out.split())
    assert "json: {valid, diagnostics} for scripts" in validate_help


def test_every_json_output_escapes_terminal_controls(ws: Workspace) -> None:
    """C1, bidi and zero-width characters are written as \\u escapes: the same JSON value,
    inert on a terminal (plan, validate, apply, show, history --format json, a saved plan)."""
    hostile = 'title: "Flo\\u202e\\u200bwers"\n    description: "x\\x9by"'
    ws.write(
        "gallery.yaml",
        config(FLOWERS.format(visibility="only_me")).replace("title: Flowers", hostile),
    )
    bad_name = "b\u202e.yaml"
    ws.write(
        bad_name, config(FLOWERS.format(visibility="only_me")).replace("flowers-resnet50", "nope")
    )
    wrong_name = "w\x9b.yaml"
    ws.write(
        wrong_name,
        config(FLOWERS.format(visibility="pub\\u200blic"))
        .replace("visibility: pub", 'visibility: "pub')
        .replace("blic\n", 'blic"\n'),
    )
    outputs = {
        "plan": ws.run("plan", "--format", "json", "--out", "p.json"),
        "validate": ws.run("validate", "-f", wrong_name, "--format", "json"),
        "apply": ws.run("apply", "-f", bad_name, "--format", "json", "--auto-approve"),
    }
    saved = (ws.root / "p.json").read_text()
    assert ws.run("apply", "p.json").code == 0
    outputs["show"] = ws.run("show", "--format", "json")
    outputs["history"] = ws.run("history", "--format", "json")
    texts = {name: r.out for name, r in outputs.items()} | {"saved": saved}
    for name, text in texts.items():
        assert not CONTROLS.search(text) and "\u200b" not in text, name
    title = "Flo\u202e\u200bwers"
    for name in ("plan", "saved", "show", "history"):
        assert '"Flo\\u202e\\u200bwers"' in texts[name], name
        assert '"x\\u009by"' in texts[name], name
    assert outputs["plan"].json()["assets"][0]["changes"][0]["after"] == title
    assert outputs["show"].json()["flowers"]["title"] == title
    assert outputs["history"].json()[0]["change"]["value"]["title"] == title
    assert outputs["apply"].code == 1
    assert outputs["apply"].json()["diagnostics"][0]["file"] == bad_name
    assert '"file": "b\\u202e.yaml"' in outputs["apply"].out
    validated = outputs["validate"].json()
    assert validated["valid"] is False and validated["diagnostics"][0]["file"] == wrong_name
    assert '"file": "w\\u009b.yaml"' in outputs["validate"].out


def test_a_refused_asset_risks_nothing_and_the_valid_rest_is_listed(ws: Workspace) -> None:
    lilies = FLOWERS.format(visibility="only_me").replace("flowers:", "lilies:")
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public") + lilies))
    assert ws.run("apply", "--auto-approve").code == 0
    narrowed = FLOWERS.format(visibility="only_me")
    ws.write("gallery.yaml", config(narrowed + lilies.replace("Flowers", "Lilies")))
    body = ws.run("plan", "--format", "json").json()
    flowers = next(a for a in body["assets"] if a["id"] == "flowers")
    assert (flowers["action"], flowers["risk"], flowers["refused"]) == (
        "update",
        "reversible",
        True,
    )
    text = ws.run("plan")
    assert text.code == 1
    assert text.out.endswith(
        "(visibility-narrowing)\n"
        "\n"
        "x asset flowers: refused (see the errors above)\n"
        "\n"
        "Once the errors are fixed, apply would:\n"
        "\n"
        "~ asset lilies will be updated (revision 1)\n"
        '    ~ title: "Flowers" -> "Lilies"\n'
        "\n"
        "The plan has errors: nothing can be applied.\n"
        "Plan: 0 to create, 1 to update, 0 to discontinue, 0 to release (1 error).\n"
    ), text.out


def test_the_default_visibility_note_only_when_the_file_names_none(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    assert ws.run("apply", "--auto-approve").code == 0
    refusal = "[error] the asset is public and public is final; it cannot become only_me{note}. "
    note = (
        " (an asset that names no visibility is only_me, the default: write its visibility to "
        "keep it)"
    )
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    explicit = ws.run("plan")
    assert "gallery.yaml:10:5: " + refusal.format(note="") in explicit.out, explicit.out
    ws.write("gallery.yaml", config(FLOWERS.replace("    visibility: {visibility}\n", "")))
    absent = ws.run("plan")
    assert "gallery.yaml:8:3: " + refusal.format(note=note) in absent.out, absent.out


def test_a_finding_in_a_config_with_anchors_is_placed_at_its_line(ws: Workspace) -> None:
    # Read by the full reader (an anchor, an alias): the place of a plan's finding comes
    # from a second read of the file, which must be the full reader's too.
    ws.write(
        "gallery.yaml",
        config(
            "  flowers:\n    title: &title Flowers\n    versions:\n"
            '      - version: "1.0.0"\n        ai_application: flowers-resnet50\n'
            "  daisies:\n    title: *title\n    versions:\n"
            '      - version: "1.0.0"\n        ai_application: no-such-app\n'
        ),
    )
    result = ws.run("plan")
    assert result.code == 1, result.err
    assert "gallery.yaml:17:9: [error] AI application 'no-such-app' not found" in result.out
    assert "internal error" not in result.err
