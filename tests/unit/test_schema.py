"""Schema messages: every violation, at its line, in a publisher's words."""

from __future__ import annotations

from pathlib import Path

from gallery_sync.config import load_config
from helpers import config


def problems(tmp_path: Path, assets: str) -> list[tuple[int, str]]:
    (tmp_path / "gallery.yaml").write_text(config(assets))
    loaded = load_config([str(tmp_path / "gallery.yaml")])
    return [(d.place.line if d.place else 0, d.message) for d in loaded.diagnostics]


def asset(fields: str, version: str = '"1.0.0"') -> str:
    return (
        "  flowers:\n"
        f"{fields}"
        "    versions:\n"
        f"      - version: {version}\n"
        "        ai_application: flowers-resnet50\n"
    )


def test_valid_minimal_asset(tmp_path: Path) -> None:
    assert problems(tmp_path, asset("    title: Flowers\n")) == []


def test_version_written_as_a_number_gets_a_quoting_hint(tmp_path: Path) -> None:
    [(line, message)] = problems(tmp_path, asset("    title: Flowers\n", version="1.0"))
    assert line == 11
    assert message == (
        'version: expected a string like "1.0.0"; the YAML value 1.0 is a number — '
        'quote it: "1.0.0"'
    )


def test_version_written_as_an_integer(tmp_path: Path) -> None:
    [(_, message)] = problems(tmp_path, asset("    title: Flowers\n", version="2"))
    assert message.endswith('the YAML value 2 is a number — quote it: "2.0.0"')


def test_version_with_leading_zero(tmp_path: Path) -> None:
    [(_, message)] = problems(tmp_path, asset("    title: Flowers\n", version='"01.0.0"'))
    assert (
        message
        == "version: '01.0.0' is not a string like \"1.0.0\" (three numbers, no leading zeros)"
    )


def test_typo_gets_a_did_you_mean(tmp_path: Path) -> None:
    found = problems(tmp_path, asset("    title: Flowers\n    visibilty: public\n"))
    assert found[0][0] == 10
    assert found[0][1].startswith("unknown field 'visibilty' (did you mean 'visibility'?)")


def test_description_and_description_file_together(tmp_path: Path) -> None:
    (tmp_path / "d.md").write_text("# hi")
    found = problems(
        tmp_path, asset("    title: Flowers\n    description: hi\n    description_file: d.md\n")
    )
    assert found == [(11, "use either description or description_file, not both")]


def test_duration_limit_days_out_of_range(tmp_path: Path) -> None:
    found = problems(tmp_path, asset("    title: Flowers\n    duration_limit: {days: 0}\n"))
    assert found == [(10, "days: 0 is below the minimum 1")]


def test_too_many_categories(tmp_path: Path) -> None:
    cats = "[ocr, other, speech, translation, multimodal, time-series]"
    found = problems(tmp_path, asset(f"    title: Flowers\n    categories: {cats}\n"))
    assert found == [(10, "categories: has 6 items; at most 5 are allowed")]


def test_repeated_category(tmp_path: Path) -> None:
    found = problems(tmp_path, asset("    title: Flowers\n    categories: [ocr, ocr]\n"))
    assert found == [(10, "categories: lists ocr more than once")]


def test_bad_asset_id_points_at_the_id(tmp_path: Path) -> None:
    found = problems(tmp_path, asset("    title: Flowers\n").replace("flowers:", "Flowers_1:"))
    assert found == [
        (
            8,
            "asset id 'Flowers_1' must be a slug of 3 to 64 lowercase letters, digits and '-', "
            "not starting or ending with '-'",
        )
    ]


def test_bad_specific_users_entry_points_inside_the_list(tmp_path: Path) -> None:
    found = problems(
        tmp_path, asset("    title: Flowers\n    visibility:\n      specific_users: []\n")
    )
    assert found == [(11, "specific_users: needs at least 1 item")]


def test_missing_region_without_default(tmp_path: Path) -> None:
    text = config(asset("    title: Flowers\n")).replace("defaults:\n  region: cn-north-4\n", "")
    (tmp_path / "gallery.yaml").write_text(text)
    [d] = load_config([str(tmp_path / "gallery.yaml")]).diagnostics
    assert d.code == "schema" and "names no region" in d.message and d.version == "1.0.0"


def test_wrong_api_version_and_missing_title_all_reported(tmp_path: Path) -> None:
    text = config(asset("    cover: 5\n")).replace("gallery-sync/v1", "gallery-sync/v2")
    (tmp_path / "gallery.yaml").write_text(text)
    found = [
        (d.place.line, d.message) for d in load_config([str(tmp_path / "gallery.yaml")]).diagnostics
    ]  # type: ignore[union-attr]
    assert found == [
        (1, "apiVersion: expected 'gallery-sync/v1', got 'gallery-sync/v2'"),
        (8, "asset 'flowers' is missing the required field 'title'"),
        (9, 'cover: expected a string, got a number 5 — quote it: "5"'),
    ]


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "gallery.yaml").write_text("# nothing yet\n")
    [d] = load_config([str(tmp_path / "gallery.yaml")]).diagnostics
    assert d.code == "schema" and d.message.startswith("the file is empty")


def test_top_level_list_is_a_schema_error(tmp_path: Path) -> None:
    (tmp_path / "gallery.yaml").write_text("- a\n- b\n")
    [d] = load_config([str(tmp_path / "gallery.yaml")]).diagnostics
    assert d.code == "schema" and "expected a mapping" in d.message


def test_description_file_line_endings_are_normalised(tmp_path: Path) -> None:
    """A CRLF checkout of the same Markdown must plan no change against an LF one."""
    (tmp_path / "gallery.yaml").write_text(
        config(asset("    title: Flowers\n    description_file: d.md\n"))
    )
    texts = []
    for body in (
        b"# Flowers\r\n\r\nLine one.\r\nLine two.\r",
        b"# Flowers\n\nLine one.\nLine two.\n",
    ):
        (tmp_path / "d.md").write_bytes(body)
        loaded = load_config([str(tmp_path / "gallery.yaml")])
        assert loaded.diagnostics == []
        texts.append(loaded.assets["flowers"].description)
    assert texts[0] == texts[1] == "# Flowers\n\nLine one.\nLine two.\n"


def test_description_file_that_is_not_utf8_is_refused_at_its_key(tmp_path: Path) -> None:
    (tmp_path / "d.md").write_bytes(b"caf\xe9\n")
    found = problems(tmp_path, asset("    title: Flowers\n    description_file: d.md\n"))
    assert found == [(10, "description_file 'd.md' is not UTF-8 text (byte 3)")]
