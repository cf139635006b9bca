"""show, history, import and apps as a newcomer meets them: nothing created by a reader, values
escaped, errors that say what to do, import fitting beside an existing config."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gallery_sync.gallery import WriteRequest
from gallery_sync.model import Operation, OpKind
from helpers import FLOWERS, PNG, Workspace, config

NO_GALLERY = (
    "error: there is no gallery at {path}; `gallery-sync apply` (or `gallery-sync apps add`) "
    "creates the embedded gallery, or pass --gallery URL (gallery-unavailable)\n"
)


def galleries(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name in (".gallery", "nonexist"))


# --- readers never create a gallery ---------------------------------------------------------


def test_read_only_commands_create_nothing_and_say_how_to_make_a_gallery(
    tmp_path: Path,
) -> None:
    Workspace(tmp_path).write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    docs = Workspace(tmp_path / "docs")
    docs.root.mkdir()
    here, there = ".gallery/gallery.db", "../.gallery/gallery.db"
    for args, path in [
        (["plan", "-f", "../gallery.yaml"], there),
        (["show", "-f", "../gallery.yaml"], there),
        (["history", "-f", ".."], there),
        (["import", "-f", "..", "-o", "-"], there),
        (["apps", "list", "-f", ".."], there),
        (["apps", "registries", "-f", ".."], there),
        (["show"], here),
        (["history"], here),
        (["import"], here),
        (["apps", "list"], here),
        (["apps", "registries"], here),
    ]:
        result = docs.run(*args)
        assert (result.code, result.err) == (1, NO_GALLERY.format(path=path)), args
    assert docs.run("validate", "-f", "../gallery.yaml").code == 0
    mistyped = docs.run(
        "plan", "-f", "../gallery.yaml", env={"GALLERY_URL": "sqlite:///nonexist/dir/g.db"}
    )
    assert (mistyped.code, mistyped.err) == (1, NO_GALLERY.format(path="nonexist/dir/g.db"))
    assert galleries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "gallery.yaml"]


def test_an_empty_gallery_url_is_an_error_never_the_default(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    before = (ws.root / ".gallery" / "gallery.db").read_bytes()
    for how in ({"args": ["--gallery", ""]}, {"env": {"GALLERY_URL": ""}}):
        for command in (
            ["plan"],
            ["apply", "--auto-approve"],
            ["show"],
            ["apps", "add", "a1", "--region", "cn-north-4"],
        ):
            result = ws.run(*command, *how.get("args", []), env=how.get("env"))
            assert result.code == 1, (command, how)
            assert result.err == (
                "error: the gallery URL is empty; pass --gallery sqlite:///PATH, or unset "
                "GALLERY_URL to use the embedded gallery (gallery-unavailable)\n"
            )
    assert (ws.root / ".gallery" / "gallery.db").read_bytes() == before


# --- apps: only what a catalog could hold ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["bad name!/../x", "--region", "cn-north-4"],
            "ai_application 'bad name!/../x' does not match",
        ),
        (["app", "--region", "not a region"], "region 'not a region' does not match"),
        (["app\x1b]0;x\x07", "--region", "cn-north-4"], "ai_application 'app\\x1b]0;x\\x07' does"),
        (["app", "--region", "cn-north-4\n"], "region 'cn-north-4\\n' does not match"),
        (["app", "--region", "cn-north-4", "--image", "a b"], "image 'a b' may hold no whitespace"),
        (["app", "--region", "cn-north-4", "--image", ""], "image is empty"),
    ],
)
def test_apps_add_refuses_what_no_catalog_could_hold(
    tmp_path: Path, args: list[str], message: str
) -> None:
    ws = Workspace(tmp_path)
    result = ws.run("apps", "add", *args)
    assert result.code == 1
    assert result.err.startswith(f"error: {message}"), result.err
    assert "\x1b" not in result.err
    assert list(tmp_path.iterdir()) == []  # refused before a gallery was created for it


def test_apps_add_refuses_an_unknown_region_unless_told_it_is_new(ws: Workspace) -> None:
    before = ws.run("apps", "list").out
    for region, guess in (("xx-nowhere-9", ""), ("cn-nort-4", " (did you mean 'cn-north-4'?)")):
        refused = ws.run("apps", "add", "x1", "--region", region)
        assert (refused.code, refused.out) == (1, "")
        assert refused.err == (
            f"error: unknown region {region!r}{guess}; known regions: af-south-1, "
            "ap-southeast-1, ap-southeast-2, ap-southeast-3, ap-southeast-4, cn-east-2, "
            "cn-east-3, cn-north-1, cn-north-2, cn-north-4, cn-north-9, cn-south-1, "
            "cn-southwest-2, la-north-2, la-south-2, me-east-1, na-mexico-1, ru-northwest-2, "
            "sa-brazil-1, tr-west-1. For a region newer than this list, pass --new-region\n"
        )
    assert ws.run("apps", "list").out == before
    added = ws.run("apps", "add", "x1", "--region", "xx-nowhere-9", "--new-region")
    assert (added.code, added.out) == (0, "added: xx-nowhere-9/x1\n")
    known = ws.run("apps", "add", "x2", "--region", "ap-southeast-3")
    assert (known.code, known.out) == (0, "added: ap-southeast-3/x2\n")


def test_apps_registries_refuse_empty_patterns_and_go_back_to_the_default(ws: Workspace) -> None:
    for bad in ("", "  ", "a b"):
        result = ws.run("apps", "registries", "docker.io", bad)
        assert result.code == 1 and result.err.startswith("error: registry pattern"), bad
    assert ws.run("apps", "registries").out == "swr.*.myhuaweicloud.com\n"
    assert ws.run("apps", "registries", "docker.io", "ghcr.io").out == "docker.io\nghcr.io\n"
    both = ws.run("apps", "registries", "--default", "x.io")
    assert (both.code, both.err) == (1, "error: give PATTERNS or --default, not both\n")
    reset = ws.run("apps", "registries", "--default")
    assert (reset.code, reset.out) == (0, "swr.*.myhuaweicloud.com\n")


# --- values from a gallery are escaped on the terminal -------------------------------------

HOSTILE = "\x1b]0;pwned\x07 \x9b31m \u202eevil"
SHOWN = "\\x1b]0;pwned\\x07 \\x9b31m \\u202eevil"


def hostile_gallery(ws: Workspace) -> None:
    gallery = ws.gallery("acme-ml")
    body = {
        "title": "Flowers",
        "visibility": "only_me",
        "versions": {
            "1.0.0": {
                "region": "cn-north-4",
                "ai_application": "flowers-resnet50",
                "description": "note " + HOSTILE,
                "status": "released",
            }
        },
    }
    agreed = frozenset({"digital-content-publishing", "ai-gallery-service"})
    create = Operation(OpKind.CREATE, value=body)
    gallery.write_asset(WriteRequest("flowers", None, (create,), agreed, message=HOSTILE))
    gallery.close()
    db = sqlite3.connect(ws.root / ".gallery" / "gallery.db")
    db.execute("INSERT INTO applications VALUES ('', 'cn-north-4', ?, NULL)", ("app" + HOSTILE,))
    # The schema now refuses controls in a title; a gallery written before may still hold one.
    db.execute("UPDATE assets SET title = ?", (HOSTILE,))
    db.commit()
    db.close()


def assert_escaped(text: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in text


def test_show_history_and_apps_list_escape_every_value(ws: Workspace) -> None:
    hostile_gallery(ws)
    shown = ws.run("show")
    assert_escaped(shown.out)
    assert f"  title:          {SHOWN}\n" in shown.out
    assert f"  version 1.0.0: cn-north-4/flowers-resnet50 [released] note {SHOWN}\n" in shown.out
    as_json = ws.run("show", "--format", "json")
    assert_escaped(as_json.out)
    assert as_json.json()["flowers"]["title"] == HOSTILE  # escaped, still the same JSON value
    history = ws.run("history", "flowers")
    assert_escaped(history.out)
    assert history.out.rstrip().endswith(f"flowers: create — {SHOWN}")
    entries = ws.run("history", "--format", "json")
    assert_escaped(entries.out)
    assert entries.json()[0]["message"] == HOSTILE
    listed = ws.run("apps", "list")
    assert_escaped(listed.out)
    assert f"cn-north-4\tapp{SHOWN}\n" in listed.out


# --- history --------------------------------------------------------------------------------


def test_history_of_an_unknown_asset_is_an_error_like_show(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    assert ws.run("apply", "--auto-approve", "-m", "first").code == 0
    for command in ("show", "history"):
        result = ws.run(command, "nope")
        assert (result.code, result.err) == (1, "error: no asset 'nope' in the gallery\n")
    assert ws.run("history", "flowers").code == 0


def test_history_json_is_a_list_of_entries_of_a_stable_shape(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    assert ws.run("apply", "--auto-approve", "-m", "first").code == 0
    [entry] = ws.run("history", "--format", "json").json()
    assert list(entry) == ["id", "time", "account", "asset", "change", "plan_hash", "message"]
    assert (entry["id"], entry["account"], entry["asset"]) == (1, "acme-ml", "flowers")
    assert entry["change"]["kind"] == "create" and entry["message"] == "first"
    assert len(entry["plan_hash"]) == 64
    assert ws.run("history", "--format", "json", "flowers").json() == [entry]


def test_history_cuts_long_values_with_an_ellipsis_and_their_length(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="only_me")))
    assert ws.run("apply", "--auto-approve", "-m", "first").code == 0
    long = FLOWERS.format(visibility="only_me").replace(
        "    visibility:", "    description: " + "d" * 300 + "\n    visibility:"
    )
    ws.write("gallery.yaml", config(long))
    assert ws.run("apply", "--auto-approve", "-m", "second").code == 0
    newest = ws.run("history", "flowers").out.splitlines()[0]
    value = '{"description": "' + "d" * 300 + '"}'
    assert f"update-fields {value[:79]}… ({len(value):,} chars) plan " in newest
    assert newest.endswith(" — second")


# --- import ---------------------------------------------------------------------------------


TULIPS = FLOWERS.format(visibility="only_me").replace("flowers:", "tulips:")


def test_import_chosen_assets_beside_the_config_plans_the_folder_to_no_changes(
    ws: Workspace,
) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public") + TULIPS))
    assert ws.run("apply", "--auto-approve").code == 0
    # The publisher's own file: agreements in another order, another default region.
    own = FLOWERS.format(visibility="public").replace(
        "ai_application: flowers-resnet50\n",
        "ai_application: flowers-resnet50\n        region: cn-north-4\n",
    )
    ws.write(
        "gallery.yaml",
        config(own)
        .replace(
            "[digital-content-publishing, ai-gallery-service]",
            "[ai-gallery-service, digital-content-publishing]",
        )
        .replace("defaults:\n  region: cn-north-4", "defaults:\n  region: cn-east-3"),
    )
    plan = ws.run("plan", "--format", "json").json()
    assert [d["code"] for d in plan["diagnostics"]] == ["unmanaged-asset"]
    unknown = ws.run("import", "tulips", "nope", "-o", "extra.yaml")
    assert unknown.code == 1
    assert unknown.err.startswith("error: no asset 'nope' of acme-ml in the gallery")
    assert not (ws.root / "extra.yaml").exists()
    imported = ws.run("import", "tulips", "-o", "extra.yaml")
    assert (imported.code, imported.out) == (0, "Imported 1 asset of acme-ml into extra.yaml\n")
    text = (ws.root / "extra.yaml").read_text()
    assert "  tulips:\n" in text and "  flowers:" not in text
    assert (
        "accepted_agreements:\n    - ai-gallery-service\n    - digital-content-publishing\n" in text
    )
    assert "defaults:\n  region: cn-east-3\n" in text and "        region: cn-north-4\n" in text
    whole = ws.run("plan", "-f", ".", "--detailed-exitcode")
    assert whole.code == 0, whole.out
    assert "No changes." in whole.out


def test_import_to_standard_output_writes_covers_to_a_folder(ws: Workspace) -> None:
    ws.write("covers/f.png", "")
    (ws.root / "covers" / "f.png").write_bytes(PNG)
    with_cover = FLOWERS.format(visibility="only_me").replace(
        "    visibility:",
        "    cover: covers/f.png\n    description: " + "x" * 400 + "\n    visibility:",
    )
    ws.write("gallery.yaml", config(with_cover))
    assert ws.run("apply", "--auto-approve").code == 0
    out = Workspace(ws.root / "out")
    out.root.mkdir()
    url = f"sqlite:///{ws.root / '.gallery' / 'gallery.db'}"
    result = out.run("import", "-o", "-", "--files-dir", "side", "--gallery", url)
    assert result.code == 0, result.err
    assert "    cover: side/covers/flowers.png\n" in result.out
    assert "    description_file: side/docs/flowers.md\n" in result.out
    assert result.err == "Wrote 2 side files under side\n"
    assert (out.root / "side" / "covers" / "flowers.png").read_bytes() == PNG
    assert (out.root / "side" / "docs" / "flowers.md").read_text() == "x" * 400
    out.write("gallery.yaml", result.out)
    assert out.run("plan", "--gallery", url, "--detailed-exitcode").code == 0
    (out.root / "side" / "covers" / "flowers.png").write_bytes(PNG + b"edited")
    clash = out.run("import", "-o", "-", "--files-dir", "side", "--gallery", url)
    assert clash.code == 1 and clash.err == (
        "error: side/covers/flowers.png already exists with other content; pass --force to "
        "overwrite\n"
    )
    assert clash.out == ""
    assert (out.root / "side" / "covers" / "flowers.png").read_bytes() == PNG + b"edited"
    forced = out.run("import", "-o", "-", "--files-dir", "side", "--gallery", url, "--force")
    assert forced.code == 0
    assert (out.root / "side" / "covers" / "flowers.png").read_bytes() == PNG


def test_import_writes_a_cover_several_assets_share_once(ws: Workspace) -> None:
    (ws.root / "covers").mkdir()
    (ws.root / "covers" / "shared.png").write_bytes(PNG)
    (ws.root / "covers" / "own.png").write_bytes(PNG + b"own")
    shared = "    visibility:", "    cover: covers/shared.png\n    visibility:"
    daisies = TULIPS.replace("tulips:", "daisies:").replace(*shared)
    roses = TULIPS.replace("tulips:", "roses:").replace(
        "    visibility:", "    cover: covers/own.png\n    visibility:"
    )
    ws.write("gallery.yaml", config(daisies + roses + TULIPS.replace(*shared)))
    assert ws.run("apply", "--auto-approve").code == 0
    out = Workspace(ws.root / "out")
    out.root.mkdir()
    url = f"sqlite:///{ws.root / '.gallery' / 'gallery.db'}"
    result = out.run("import", "-o", "gallery.yaml", "--gallery", url)
    assert result.out == "Imported 3 assets of acme-ml into gallery.yaml (and 2 files)\n"
    text = (out.root / "gallery.yaml").read_text()
    # Named after the first asset showing it, in id order; both of its assets refer to it.
    assert text.count("    cover: covers/daisies.png\n") == 2
    assert text.count("    cover: covers/roses.png\n") == 1
    assert sorted(p.name for p in (out.root / "covers").iterdir()) == ["daisies.png", "roses.png"]
    assert (out.root / "covers" / "daisies.png").read_bytes() == PNG
    assert (out.root / "covers" / "roses.png").read_bytes() == PNG + b"own"
    again = out.run("plan", "--gallery", url, "--detailed-exitcode")
    assert again.code == 0, again.out


def test_import_never_writes_outside_its_folder(ws: Workspace) -> None:
    # A gallery written before ids were checked, or by a hostile client: ids are not trusted.
    db = sqlite3.connect(ws.root / ".gallery" / "gallery.db")
    db.execute(
        "INSERT INTO assets (id, publisher, title, cover, description, categories, visibility, "
        "duration_limit, status, revision, created_at, updated_at) "
        "VALUES ('../../../pwned', 'acme-ml', 'T', NULL, ?, '[]', "
        "'\"only_me\"', '\"unlimited\"', 'released', 1, 'now', 'now')",
        ("d" * 400,),
    )
    db.execute(
        "INSERT INTO versions VALUES ('../../../pwned', '1.0.0', 'cn-north-4', "
        "'flowers-resnet50', '', 'released', 'now')"
    )
    db.commit()
    db.close()
    (ws.root / "out").mkdir()
    result = ws.run("import", "-o", "out/gallery.yaml")
    assert result.code == 1
    assert result.err == (
        "error: refusing to write 'docs/../../../pwned.md': it would land outside out (an asset "
        "id that leaves the output folder)\n"
    )
    escaping = ws.run("import", "-o", "-", "--files-dir", "../elsewhere")
    assert escaping.code == 1 and "refusing to write '../elsewhere/docs/" in escaping.err
    assert list((ws.root / "out").iterdir()) == []
    assert not list(ws.root.parent.rglob("pwned*"))
    assert not (ws.root.parent / "elsewhere").exists()


def test_import_takes_an_absolute_files_dir_the_user_chose(ws: Workspace) -> None:
    (ws.root / "covers").mkdir()
    (ws.root / "covers" / "f.png").write_bytes(PNG)
    with_cover = FLOWERS.format(visibility="only_me").replace(
        "    visibility:", "    cover: covers/f.png\n    visibility:"
    )
    ws.write("gallery.yaml", config(with_cover))
    assert ws.run("apply", "--auto-approve").code == 0
    side = ws.root / "abs" / "side"
    result = ws.run("import", "-o", "-", "--files-dir", str(side))
    assert result.code == 0, result.err
    assert result.err == f"Wrote 1 side file under {side}\n"
    assert "    cover: abs/side/covers/flowers.png\n" in result.out
    assert (side / "covers" / "flowers.png").read_bytes() == PNG
    written = ws.run("import", "-o", "again.yaml", "--files-dir", str(side), "flowers")
    assert (written.code, written.out) == (
        0,
        "Imported 1 asset of acme-ml into again.yaml (and 1 file)\n",
    )
