"""Renderers: exact output for text, github and markdown, and the PR comment's size limit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gallery_sync.diagnostics import Diagnostic, Place, Severity
from gallery_sync.model import Asset, Status, Version, Visibility, VisibilityLevel
from gallery_sync.plan import Plan, plan_asset
from gallery_sync.render import github, markdown, text

V1 = Version("1.0.0", "cn-north-4", "app", "first")
BASE = Asset("flowers", "acme", "Flowers", (V1,), revision=3)


@pytest.fixture(autouse=True)
def _no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")


def plain(s: str) -> str:
    import click

    return click.unstyle(s)


def test_github_escapes_data_and_properties() -> None:
    d = Diagnostic.of(
        "schema",
        "100% wrong\r\nsecond line",
        place=Place("dir,with:odd/gallery.yaml", 3, 7),
    )
    assert github.command(d) == (
        "::error file=dir%2Cwith%3Aodd/gallery.yaml,line=3,col=7,title=schema"
        "::100%25 wrong%0D%0Asecond line"
    )


def test_github_warning_without_a_place() -> None:
    d = Diagnostic.of("unmanaged-asset", "left as it is", asset="tulips")
    assert github.command(d) == "::warning title=unmanaged-asset::asset tulips: left as it is"


def test_text_diagnostic_line() -> None:
    d = Diagnostic.of("duplicate-key", "key 'a' is repeated", place=Place("g.yaml", 4, 3))
    assert (
        plain(text.diagnostic_line(d)) == "g.yaml:4:3: [error] key 'a' is repeated (duplicate-key)"
    )
    # A problem with no place in a file says what it is about, never `gallery:`.
    w = Diagnostic.of("unmanaged-asset", "left as it is", asset="tulips")
    assert plain(text.diagnostic_line(w)) == (
        "asset tulips: [warning] left as it is (unmanaged-asset)"
    )
    v = Diagnostic.of("conflict", "it moved", asset="tulips", version="1.0.0")
    assert plain(text.diagnostic_line(v)) == (
        "asset tulips version 1.0.0: [error] it moved (conflict)"
    )
    n = Diagnostic.of("gallery-unavailable", "cannot open it")
    assert plain(text.diagnostic_line(n)) == "[error] cannot open it (gallery-unavailable)"


def test_text_plan_exact() -> None:
    after = replace(
        BASE,
        title="Flowers 2",
        visibility=Visibility(VisibilityLevel.PUBLIC),
        versions=(V1, Version("1.1.0", "cn-east-3", "app2")),
        description="one\ntwo\nthree\n",
    )
    plan = Plan("acme", "sqlite:///g.db", (plan_asset(BASE, after),), ())
    assert plain(text.render_plan(plan)) == (
        "Gallery sqlite:///g.db, publisher acme\n"
        "\n"
        "! Irreversible — once applied, these cannot be undone:\n"
        "  ! flowers: visibility only_me -> public; version 1.1.0 published\n"
        "\n"
        "~ asset flowers will be updated (revision 3)\n"
        "    ~ visibility: only_me -> public  ! irreversible\n"
        "    + versions[1.1.0]: cn-east-3/app2  ! irreversible\n"
        '    ~ title: "Flowers" -> "Flowers 2"\n'
        "    ~ description: 0 chars -> 14 chars\n"
        "        @@ -0,0 +1,3 @@\n"
        "        +one\n"
        "        +two\n"
        "        +three\n"
        "\n"
        "Plan: 0 to create, 1 to update (1 new version), 0 to discontinue, 0 to release"
        " — 2 irreversible.\n"
        f"Plan hash: {plan.digest()}\n"
    )


def test_markdown_plan_exact_for_a_small_plan() -> None:
    after = replace(BASE, description="line one\nline two\n", status=Status.DISCONTINUED)
    plan = Plan("acme", "g", (plan_asset(BASE, after),), ())
    digest = plan.digest()
    assert markdown.render_plan(plan) == (
        "### gallery-sync plan: 0 to create, 0 to update, 1 to discontinue, 0 to release\n"
        "\n"
        f"Plan hash: `{digest}` — to apply exactly this plan once it is saved with "
        f"`plan --out PLANFILE`: `gallery-sync apply PLANFILE --plan-hash {digest}`\n"
        "\n"
        "<details>\n"
        "<summary>⛔ <code>flowers</code>: discontinue</summary>\n"
        "\n"
        "| field | before | after |\n"
        "| --- | --- | --- |\n"
        '| description | "" | "line one..." (18 chars) |\n'
        '| status | "released" | "discontinued" |\n'
        "\n"
        "```diff\n"
        "--- before\n"
        "+++ after\n"
        "@@ -0,0 +1,2 @@\n"
        "+line one\n"
        "+line two\n"
        "```\n"
        "\n"
        "</details>\n"
        "\n"
    )


def test_markdown_escapes_html_and_table_pipes() -> None:
    after = replace(BASE, title="<script>a|b</script>")
    md = markdown.render_plan(Plan("acme", "g", (plan_asset(BASE, after),), ()))
    assert '| title | "Flowers" | "&lt;script&gt;a&#124;b&lt;/script&gt;" |' in md
    assert "<script>" not in md


def test_markdown_stays_under_the_comment_limit_with_2000_assets() -> None:
    assets = []
    for i in range(2000):
        before = replace(BASE, id=f"asset-{i:04d}", description="x" * 200)
        after = replace(
            before,
            title=f"Title {i}",
            description="y" * 200 + "\n" + "z" * 100,
            visibility=Visibility(VisibilityLevel.PUBLIC) if i % 100 == 0 else before.visibility,
        )
        assets.append(plan_asset(before, after))
    warnings = [
        Diagnostic.of("version-not-increasing", f"warning {i}", severity=Severity.WARNING)
        for i in range(3)
    ]
    errors = (*warnings, Diagnostic.of("conflict", "an error that must survive"))
    plan = Plan("acme", "g", tuple(assets), errors)
    md = markdown.render_plan(plan)
    assert len(md) <= markdown.MAX_CHARS
    assert md.startswith("### gallery-sync plan: 0 to create, 2,000 to update")
    assert "an error that must survive" in md
    for i in range(0, 2000, 100):  # every irreversible change is kept
        assert f"- `asset-{i:04d}`: visibility only_me → public\n" in md
    assert md.endswith(
        "Shown above: the summary, every error and warning, every irreversible change, and the "
        f"details of the first {md.count('<details>'):,} of 2,000 changed assets. "
        "Run `gallery-sync plan --format json` for the full plan.\n"
    )


def test_markdown_shows_a_changed_cover_as_old_and_new_sha256() -> None:
    old, new = "a" * 64, "b" * 64
    plan = Plan("acme", "g", (plan_asset(replace(BASE, cover=old), replace(BASE, cover=new)),), ())
    md = markdown.render_plan(plan)
    assert f"| cover | `{old}` | `{new}` |" in md
