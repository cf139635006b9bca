"""Renderers: exact output for text, github and markdown, and the PR comment's size limit."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from gallery_sync.diagnostics import Diagnostic, Place, Severity
from gallery_sync.model import Asset, Status, Version, Visibility, VisibilityLevel
from gallery_sync.plan import Plan, plan_asset
from gallery_sync.render import github, markdown, text
from gallery_sync.render.values import LIST_LIMIT

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
        "  ! flowers: visibility only_me -> public (public is final: it can never be narrowed);"
        " version 1.1.0 published\n"
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
        "| description | 0 chars | 18 chars (diff below) |\n"
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
        assert (
            f"- `asset-{i:04d}`: visibility only_me → public"
            " (public is final: it can never be narrowed)\n"
        ) in md
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


# --- 10.4: no terminal control from a value reaches any output --------------------------------

EVIL = "t\x1b]0;pwned\x07i\x9bt\u202el\x1b[2Je\rx"
SGR = re.compile("\x1b\\[[0-9;]*m")  # our own colours (click.style), the only escapes we write


def assert_inert(out: str, *, visible: str = "\\x1b") -> None:
    """No control but newline, no C1, no bidi override or isolate; the escape made visible."""
    raw = SGR.sub("", out)
    bad = [
        ch
        for ch in raw
        if (ord(ch) < 0x20 and ch != "\n")
        or 0x7F <= ord(ch) <= 0x9F
        or 0x202A <= ord(ch) <= 0x202E
        or 0x2066 <= ord(ch) <= 0x2069
    ]
    assert not bad, bad
    assert visible in raw


def hostile_plan() -> Plan:
    """A title, a version note, an asset id, a gallery URL and messages full of controls."""
    evil_id = "flowers" + EVIL
    before = replace(BASE, id=evil_id, description="a\nb\n")
    after = replace(
        before,
        title=EVIL,
        description=f"a\n{EVIL}\n",
        visibility=Visibility(VisibilityLevel.PUBLIC),
        versions=(V1._replace(description=f"note {EVIL}\nsecond {EVIL}"),),
    )
    new = Asset(evil_id + "2", "acme", EVIL, (Version("1.0.0", "cn-north-4", EVIL, EVIL),))
    diagnostics = (
        Diagnostic.of("schema", f"title: {EVIL}", place=Place(f"g{EVIL}.yaml", 1, 2)),
        Diagnostic.of("unmanaged-asset", f"asset {EVIL}", asset=evil_id, severity=Severity.WARNING),
    )
    return Plan(
        EVIL, f"sqlite:///{EVIL}", (plan_asset(before, after), plan_asset(None, new)), diagnostics
    )


def test_text_plan_escapes_every_value() -> None:
    plan = hostile_plan()
    without_errors = replace(plan, diagnostics=plan.diagnostics[1:])
    for out in (text.render_plan(plan), text.render_plan(without_errors)):
        assert_inert(out)
        assert "\\x1b]0;pwned\\x07i\\x9bt\\u202el\\x1b[2Je\\rx" in out
    shown = text.render_plan(without_errors)
    assert "+ asset flowerst\\x1b]0;pwned" in plain(shown)  # the id, escaped, in its block
    assert "        +note t\\x1b]0;pwned" in plain(shown)  # the version note's diff


def test_text_diagnostics_escape_file_and_message() -> None:
    out = text.render_diagnostics(list(hostile_plan().diagnostics))
    assert_inert(out)
    assert plain(out).startswith(
        "gt\\x1b]0;pwned\\x07i\\x9bt\\u202el\\x1b[2Je\\rx.yaml:1:2: [error]"
    )


def test_markdown_plan_escapes_every_value() -> None:
    plan = hostile_plan()
    for md in (markdown.render_plan(plan), markdown.render_plan(replace(plan, diagnostics=()))):
        assert_inert(md)
        assert "<code>flowerst\\x1b]0;pwned\\x07i\\x9bt\\u202el\\x1b[2Je\\rx</code>" in md


def test_markdown_values_cannot_break_out() -> None:
    title = "</details><img src=x>`code`|cell|](http://evil)"
    after = replace(BASE, title=title, description="```\n</details>\n")
    md = markdown.render_plan(Plan("acme", "g", (plan_asset(BASE, after),), ()))
    assert "<img" not in md and "](http" not in md and "`code`" not in md
    # Inside the fenced diff, `</details>` is code; the only closing tag is ours.
    assert md.count("<details>") == md.splitlines().count("</details>") == 1
    assert (
        '"&lt;/details&gt;&lt;img src=x&gt;&#96;code&#96;&#124;cell&#124;]&#40;http://evil)"' in md
    )
    assert "````diff\n--- before\n+++ after\n" in md  # a fence longer than the text's ```


def test_github_plan_and_diagnostics_escape_every_value() -> None:
    plan = hostile_plan()
    out = github.render_plan(plan) + github.render_diagnostics(list(plan.diagnostics))
    assert_inert(out)
    assert out.count("\n") == 5  # one command per line: no value starts a line of its own
    assert "::error file=gt\\x1b]0;pwned\\x07i\\x9bt\\u202el\\x1b[2Je%0Dx.yaml,line=1" in out


# --- 11.5: one summary vocabulary -------------------------------------------------------------


def test_one_summary_in_every_format_a_discontinued_version_is_named() -> None:
    two = replace(BASE, versions=(V1, Version("1.1.0", "cn-north-4", "app2")))
    after = replace(two, versions=(V1._replace(status=Status.DISCONTINUED), two.versions[1]))
    errors = (Diagnostic.of("conflict", "x", asset="flowers"),)
    plan = Plan("acme", "g", (plan_asset(two, after),), errors)
    line = (
        "0 to create, 1 to update (1 version discontinued), 0 to discontinue, 0 to release"
        " — 1 irreversible (1 error)"
    )
    assert f"\nPlan: {line}.\n" in plain(text.render_plan(plan))
    assert markdown.render_plan(plan).startswith(f"### gallery-sync plan: {line}\n")
    assert github.render_plan(plan).endswith(f"::notice title=gallery-sync plan::Plan: {line}.\n")


def test_summary_counts_new_versions_and_plurals() -> None:
    after = replace(
        BASE, versions=(V1, Version("1.1.0", "cn-east-3", "a"), Version("1.2.0", "cn-east-3", "b"))
    )
    warnings = tuple(
        Diagnostic.of("unmanaged-asset", f"w{i}", asset=f"a{i}", severity=Severity.WARNING)
        for i in range(2)
    )
    plan = Plan("acme", "g", (plan_asset(BASE, after),), warnings)
    assert (
        plain(text.render_plan(plan)).count(
            "Plan: 0 to create, 1 to update (2 new versions), 0 to discontinue, 0 to release"
            " — 2 irreversible (2 warnings).\n"
        )
        == 1
    )


# --- 11.2: a refused asset is shown as refused, counted nowhere else --------------------------


def test_refused_asset_is_shown_refused_and_counted_nowhere() -> None:
    public = replace(BASE, visibility=Visibility(VisibilityLevel.PUBLIC))
    refused = replace(plan_asset(public, BASE), refused=True)
    error = Diagnostic.of("visibility-narrowing", "public is final", place=Place("g.yaml", 9, 5))
    plan = Plan("acme", "g", (refused,), (error,))
    out = plain(text.render_plan(plan))
    assert out == (
        "Gallery g, publisher acme\n"
        "\n"
        "g.yaml:9:5: [error] public is final (visibility-narrowing)\n"
        "\n"
        "x asset flowers: refused (see the errors above)\n"
        "\n"
        "The plan has errors: nothing can be applied.\n"
        "Plan: 0 to create, 0 to update, 0 to discontinue, 0 to release (1 error).\n"
    )
    md = markdown.render_plan(plan)
    assert "#### ⛔ Refused — these assets break a rule: nothing of them is written\n\n" in md
    assert "- `flowers`: refused (see the errors above)\n" in md
    assert "irreversible" not in md.lower() and "Irreversible" not in out
    assert "1 to update" not in md and "<details>" not in md


# --- 11.4: a changed multi-line text is a diff in the terminal, bounded ------------------------


def test_text_plan_shows_a_changed_description_as_a_bounded_diff() -> None:
    old = "".join(f"line {i}\n" for i in range(100))
    new = "".join(f"line {i} changed\n" for i in range(100))
    plan = Plan(
        "acme",
        "g",
        (plan_asset(replace(BASE, description=old), replace(BASE, description=new)),),
        (),
    )
    out = plain(text.render_plan(plan))
    assert "    ~ description: 790 chars -> 1,590 chars\n        @@ -1,100 +1,100 @@\n" in out
    assert "        -line 0\n        -line 1\n" in out
    diff = [line for line in out.splitlines() if line.startswith("        ")]
    assert len(diff) == text.DIFF_LINES + 1
    assert diff[-1] == "        ... and 161 more lines of the diff (--format json has both texts)"


def test_a_changed_multiline_version_note_is_a_diff_too() -> None:
    before = replace(BASE, versions=(V1._replace(description="a\nb"),))
    after = replace(BASE, versions=(V1._replace(description="a\nc"),))
    out = plain(text.render_plan(Plan("acme", "g", (plan_asset(before, after),), ())))
    assert "    ~ versions[1.0.0].description: 3 chars -> 3 chars\n" in out
    assert "         a\n        -b\n        +c\n" in out


# --- 11.6 / 11.7: big plans --------------------------------------------------------------------


def created(n: int) -> Plan:
    """n new assets of 5 versions each; every 3rd public."""
    assets = []
    for i in range(n):
        versions = tuple(Version(f"1.{v}.0", "cn-north-4", f"app-{i}-{v}") for v in range(5))
        vis = Visibility(VisibilityLevel.PUBLIC) if i % 3 == 0 else Visibility()
        assets.append(
            plan_asset(
                None, Asset(f"asset-{i:05d}", "acme", f"Model {i}", versions, visibility=vis)
            )
        )
    return Plan("acme", "g", tuple(assets), ())


@pytest.mark.parametrize("n", [2500, 10000])
def test_markdown_of_a_huge_plan_counts_irreversible_changes_by_kind(n: int) -> None:
    md = markdown.render_plan(created(n))
    assert len(md) <= markdown.MAX_CHARS
    lines = md.splitlines()
    public = (n + 2) // 3
    assert f"{n * 5 + public:,} irreversible changes in {n:,} assets, by kind:" in lines
    ids = ", ".join(f"`asset-{i:05d}`" for i in range(50))
    assert (
        f"- **{n:,} assets to create (published, never deleted)**: {ids}, and {n - 50:,} more"
        in lines
    )
    assert (
        f"- of all these assets, {public:,} become public and 0 visible to specific users" in lines
    )
    # Whole lines only: every section closed, every row and summary complete.
    assert md.count("<details>") == md.count("</details>") > 10
    for line in lines:
        if line.startswith("|"):
            assert line.endswith("|"), line
        if line.startswith("<summary>"):
            assert line.endswith("</summary>"), line
    shown = md.count("<details>")
    assert lines[-1] == (
        "> **The plan is too long for one comment.** Shown above: the summary, every error and "
        "warning, the irreversible changes counted by kind, and the details of the first "
        f"{shown} of {n:,} changed assets. Run `gallery-sync plan --format json` for the full plan."
    )


def test_markdown_of_a_long_plan_lists_every_irreversible_change_per_asset() -> None:
    md = markdown.render_plan(created(300))
    assert len(md) <= markdown.MAX_CHARS
    for i in range(300):
        public = (
            "; visibility public (public is final: it can never be narrowed)" if i % 3 == 0 else ""
        )
        assert f"- `asset-{i:05d}`: published with 5 versions 1.0.0–1.4.0{public}\n" in md
    assert "Shown above: the summary, every error and warning, every irreversible change, and" in md


def test_text_plan_of_many_creations_is_one_line_per_asset_and_bounded() -> None:
    out = plain(text.render_plan(created(120)))
    lines = out.splitlines()
    marked = [line for line in lines if line.startswith("  ! ")]
    assert len(marked) == LIST_LIMIT
    assert "  ... and 70 more assets with irreversible changes, each marked ! below" in lines
    assert (
        '+ asset asset-00003 will be created: "Model 3", 5 versions 1.0.0–1.4.0, '
        "visibility public  ! irreversible"
    ) in lines
    assert sum(line.startswith("+ asset ") for line in lines) == 120
    assert "(120 new assets shown one line each; `plan --format json` has every field.)" in lines
    assert lines[-2].startswith("Plan: 120 to create, 0 to update")


def test_text_plan_bounds_gallery_side_warnings() -> None:
    warnings = tuple(
        Diagnostic.of(
            "unmanaged-asset", "left as it is", asset=f"a{i:03d}", severity=Severity.WARNING
        )
        for i in range(130)
    )
    out = plain(text.render_plan(Plan("acme", "g", (), warnings)))
    assert out.count("[warning]") == LIST_LIMIT
    assert "... and 80 more unmanaged-asset warnings (--format json lists them all)\n" in out


def test_an_embedded_gallery_under_the_working_directory_is_shown_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gallery_sync.render.text import shown_gallery

    monkeypatch.chdir(tmp_path)
    inside = f"sqlite:///{tmp_path / '.gallery' / 'gallery.db'}"
    assert shown_gallery(inside) == "sqlite:///.gallery/gallery.db"
    assert shown_gallery("sqlite:////elsewhere/g.db") == "sqlite:////elsewhere/g.db"
    assert shown_gallery("http://gallery.example:8080") == "http://gallery.example:8080"
