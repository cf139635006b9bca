"""`import` of more than one file holds: parts beside the output that plan as one config."""

from __future__ import annotations

from helpers import FLOWERS, Workspace, config

GALLERY = "sqlite:///.gallery/gallery.db"


def many_assets(ws: Workspace, n: int) -> None:
    body = "".join(
        FLOWERS.format(visibility="public")
        .replace("flowers:", f"flowers-{i:02d}:")
        .replace("title: Flowers", f"title: 'Flowers: {i} # of {n}'")
        for i in range(n)
    )
    ws.write("gallery.yaml", config(body))
    assert ws.run("apply", "--auto-approve").code == 0


def test_a_large_import_is_split_into_parts_that_plan_to_no_changes(ws: Workspace) -> None:
    many_assets(ws, 12)
    small = {"GALLERY_SYNC_IMPORT_PART_BYTES": "900"}
    out = ws.run("import", "-o", "imported/gallery.yaml", "--gallery", GALLERY, env=small)
    assert out.code == 0, out.err
    parts = sorted(p.name for p in (ws.root / "imported").glob("*.yaml"))
    assert len(parts) >= 3 and "gallery.yaml" in parts and "gallery-2.yaml" in parts
    assert out.out == (
        f"Imported 12 assets of acme-ml into imported/gallery.yaml and {len(parts) - 1} more "
        "parts beside it (gallery-2.yaml, ...)\n"
        "Plan them as one config: gallery-sync plan -f imported\n"
    )
    for name in parts:
        text = (ws.root / "imported" / name).read_text()
        assert len(text.encode()) <= 900 or text.count("\n  flowers-") == 1
        assert text.count("account: acme-ml") == 1
    assert "    title: 'Flowers: 0 # of 12'\n" not in out.out  # written quoted, as JSON
    first = (ws.root / "imported" / "gallery.yaml").read_text()
    assert '    title: "Flowers: 0 # of 12"\n' in first
    plan = ws.run("plan", "-f", "imported", "--gallery", GALLERY, "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert "No changes." in plan.out

    # Standard output holds one file: a split import is refused there, with the way out.
    stdout = ws.run("import", "-o", "-", "--gallery", GALLERY, env=small)
    assert (stdout.code, stdout.out) == (1, "")
    assert stdout.err.startswith("error: the import is 0 MiB, more than one config file may")
    assert "write it with -o FILE, which splits it into parts beside FILE" in stdout.err

    # One file again: the earlier parts would declare every asset twice.
    again = ws.run("import", "-o", "imported/gallery.yaml", "--gallery", GALLERY)
    assert again.code == 1
    assert "imported/gallery-2.yaml" in again.err and "--force" in again.err
    forced = ws.run("import", "-o", "imported/gallery.yaml", "--gallery", GALLERY, "--force")
    assert forced.code == 0, forced.err
    assert [p.name for p in (ws.root / "imported").glob("*.yaml")] == ["gallery.yaml"]
    plan = ws.run("plan", "-f", "imported", "--gallery", GALLERY, "--detailed-exitcode")
    assert plan.code == 0, plan.out


def test_a_bad_part_size_is_a_usage_error(ws: Workspace) -> None:
    many_assets(ws, 1)
    bad = ws.run("import", "-o", "-", env={"GALLERY_SYNC_IMPORT_PART_BYTES": "lots"})
    assert bad.code != 0 and "GALLERY_SYNC_IMPORT_PART_BYTES='lots'" in bad.err
