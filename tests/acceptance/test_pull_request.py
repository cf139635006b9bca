"""The pull-request workflow: JSON against its schema, annotations, PR comments, import."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from helpers import FLOWERS, REPO, Workspace, config, copy_example

PLAN_SCHEMA = Draft202012Validator(json.loads((REPO / "schemas" / "plan.schema.json").read_text()))


GALLERY = "sqlite:///.gallery/gallery.db"  # the workspace's, not the config root's


def every_field_gallery(ws: Workspace) -> None:
    """A gallery using every field: the example, then a discontinued version and asset."""
    copy_example(ws)
    assert ws.run("apply", "--auto-approve").code == 0
    text = (ws.root / "gallery.yaml").read_text()
    text = text.replace(
        "        description: First release.\n",
        "        description: First release.\n        status: discontinued\n",
    )
    text = text.replace(
        "    duration_limit: unlimited\n",
        "    duration_limit: unlimited\n    status: discontinued\n",
    )
    ws.write("gallery.yaml", text)
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out


def test_json_plan_conforms_to_the_plan_schema(ws: Workspace) -> None:
    every_field_gallery(ws)
    ws.write(
        "gallery.yaml",
        (ws.root / "gallery.yaml")
        .read_text()
        .replace("title: Invoice OCR (LayoutLM)", "title: Invoice OCR"),
    )
    ws.write("new.yaml", config(FLOWERS.format(visibility="public")))
    # Another publisher declaring one of acme-ml's assets: a plan with errors.
    ws.write(
        "other.yaml",
        config(FLOWERS.format(visibility="public").replace("flowers:", "invoice-ocr:")).replace(
            "account: acme-ml", "account: other-ml"
        ),
    )
    for args in (
        ["-f", "gallery.yaml"],
        ["-f", "new.yaml"],
        ["-f", "gallery.yaml", "--prune"],
        ["-f", "other.yaml"],
    ):
        out = ws.run("plan", *args, "--format", "json")
        body = out.json()
        errors = sorted(PLAN_SCHEMA.iter_errors(body), key=str)
        assert errors == [], errors[0].message
        assert body["format_version"] == "1"
    new = ws.run("plan", "-f", "new.yaml", "--format", "json").json()
    assert new["summary"]["unmanaged"] == 3 and new["summary"]["create"] == 1
    other = ws.run("plan", "-f", "other.yaml", "--format", "json")
    assert other.code == 1
    assert [d["code"] for d in other.json()["diagnostics"]] == ["asset-owned-by-other"]
    assert other.json()["publisher"] == "other-ml"


def test_validate_json_shape(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="everyone")))
    body = ws.run("validate", "--format", "json").json()
    assert body == {
        "valid": False,
        "diagnostics": [
            {
                "severity": "error",
                "code": "schema",
                "message": "visibility: 'everyone' is not allowed; expected only_me (default), "
                "public, or {specific_users: [...]}",
                "file": "gallery.yaml",
                "line": 10,
                "column": 5,
                "asset": "flowers",
                "version": None,
            }
        ],
    }


def test_github_annotations_for_validate_and_plan(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    assert ws.run("apply", "--auto-approve").code == 0
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    out = ws.run("plan", "--format", "github")
    assert out.code == 1
    lines = out.out.splitlines()
    assert lines[0].startswith(
        "::error file=gallery.yaml,line=10,col=5,title=visibility-narrowing::the asset is public"
    )
    # The refused narrowing is an error, and counted as no update.
    assert lines[-1].startswith("::notice title=gallery-sync plan::Plan: 0 to create, 0 to update")
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public") + "  bad: 1\n"))
    validated = ws.run("validate", "--format", "github")
    assert validated.code == 1
    assert validated.out.startswith("::error file=gallery.yaml,line=14,col=3,title=schema::")


def test_markdown_plan_comment(ws: Workspace) -> None:
    every_field_gallery(ws)
    text = (ws.root / "gallery.yaml").read_text()
    text = text.replace("visibility: only_me", "visibility: public")
    ws.write("gallery.yaml", text)
    (ws.root / "docs" / "summarizer.md").write_text(
        (ws.root / "docs" / "summarizer.md").read_text().replace("three lines", "four lines")
    )
    out = ws.run("plan", "--format", "markdown")
    assert out.code == 0
    md = out.out
    first = md.splitlines()[0]
    assert (
        first == "### gallery-sync plan: 0 to create, 1 to update, 0 to discontinue, 0 to release"
        " — 1 irreversible"
    )
    assert "#### ⚠️ Irreversible changes — merging makes these permanent" in md
    assert (
        "- `support-chat-summarizer`: visibility only_me → public"
        " (public is final: it can never be narrowed)\n" in md
    )
    assert "<summary>✏️ <code>support-chat-summarizer</code>: update ⚠️ irreversible</summary>" in md
    assert "| visibility ⚠️ | only_me | public |" in md
    assert "```diff\n--- before\n+++ after\n" in md
    assert "-Summarises a customer-support conversation into three lines" in md
    assert "+Summarises a customer-support conversation into four lines" in md


def test_import_round_trip_plans_to_no_changes(ws: Workspace) -> None:
    every_field_gallery(ws)
    out = ws.run("import", "-o", "imported/gallery.yaml")
    assert out.code == 0, out.err
    assert out.out.startswith("Imported 3 assets of acme-ml into imported/gallery.yaml")
    assert (ws.root / "imported" / "docs" / "flower-classifier.md").read_text() == (
        REPO / "docs" / "flowers.md"
    ).read_text()
    assert (ws.root / "imported" / "covers" / "flower-classifier.png").read_bytes() == (
        REPO / "covers" / "flowers.png"
    ).read_bytes()
    assert ws.run("validate", "-f", "imported/gallery.yaml").code == 0
    plan = ws.run(
        "plan", "-f", "imported/gallery.yaml", "--gallery", GALLERY, "--detailed-exitcode"
    )
    assert plan.code == 0, plan.out
    imported = (ws.root / "imported" / "gallery.yaml").read_text()
    assert "status: discontinued" in imported and 'version: "1.0.0"' in imported
    again = ws.run("import", "-o", "imported/gallery.yaml")
    assert again.code == 0  # same content: no clash
    (ws.root / "imported" / "docs" / "flower-classifier.md").write_text("local edits")
    clash = ws.run("import", "-o", "imported/gallery.yaml")
    assert clash.code == 1 and "--force" in clash.err
    assert (ws.root / "imported" / "docs" / "flower-classifier.md").read_text() == "local edits"


def test_import_to_stdout_and_account_choice(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    assert ws.run("apply", "--auto-approve").code == 0
    other = FLOWERS.format(visibility="only_me").replace("flowers:", "tulips:")
    ws.write("other.yaml", config(other, account="other-ml"))
    assert ws.run("apply", "-f", "other.yaml", "--auto-approve").code == 0
    ambiguous = ws.run("import", "-o", "-")
    assert ambiguous.code == 1 and "choose one with --account" in ambiguous.err
    mine = ws.run("import", "-o", "-", "--account", "acme-ml")
    assert mine.code == 0
    assert "  flowers:\n" in mine.out and "tulips" not in mine.out
    ws.write("roundtrip.yaml", mine.out)
    assert (
        ws.run("plan", "-f", "roundtrip.yaml", "--detailed-exitcode", "--target", "flowers").code
        == 0
    )
