"""Schema messages: every violation, at its line, in a publisher's words."""

from __future__ import annotations

from pathlib import Path

import pytest

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


# Patterns mean what the schema means (ECMA-262: `$` is the end of the text) in both validators.


def _strings_of(part: object, key: str) -> list[str]:
    """Every string value of `key` anywhere in a schema."""
    if isinstance(part, dict):
        own = [part[key]] if isinstance(part.get(key), str) else []
        return own + [s for v in part.values() for s in _strings_of(v, key)]
    if isinstance(part, list):
        return [s for v in part for s in _strings_of(v, key)]
    return []


def test_every_schema_pattern_refuses_a_trailing_newline_in_both_validators() -> None:
    import jsonschema_rs

    from gallery_sync.config.schema import ecma_regex, schema, validator

    samples = {
        "^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$": "flowers",
        "^[a-z0-9]+(-[a-z0-9]+)*$": "text-classification",
        "^[a-z]{2,}(-[a-z]+)*-[0-9]+$": "cn-north-4",
        "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$": "1.0.0",
        "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$": "flowers-resnet50",
        "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$": "alice@example.com",
        "^[^\\u0000-\\u001f\\u007f-\\u009f]*$": "Flowers — été",
    }
    assert set(_strings_of(schema(), "pattern")) == set(samples)
    for pattern, good in samples.items():
        compiled = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
        for text, ok in ((good, True), (good + "\n", False), ("\n" + good, False)):
            assert compiled.is_valid(text) is ok
            assert bool(ecma_regex(pattern).search(text)) is ok
    assert not validator().is_valid(
        {"apiVersion": "gallery-sync/v1", "publisher": {"account": "acme-ml\n"}}
    )


def test_asset_id_and_version_with_a_trailing_newline_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        asset("    title: Flowers\n", '"1.0.0\\n"').replace("  flowers:", '  "flowers\\n":'),
    )
    assert found == [
        (
            8,
            "asset id 'flowers\\n' must be a slug of 3 to 64 lowercase letters, digits and '-', "
            "not starting or ending with '-'",
        ),
        (
            11,
            "version: '1.0.0\\n' is not a string like \"1.0.0\" (three numbers, no leading zeros)",
        ),
    ]


def test_a_title_is_one_line_without_control_characters(tmp_path: Path) -> None:
    for written, shown in (('"Flo\\nwers"', "'Flo\\nwers'"), ('"Flo\\x9bwers"', "'Flo\\x9bwers'")):
        found = problems(tmp_path, asset(f"    title: {written}\n", '"1.0.0"'))
        assert found == [
            (
                9,
                f"title: {shown} is not one line of text: a title holds no line break, tab or "
                "control character",
            )
        ]
    from gallery_sync.shape import shape

    assert shape().title.problem("Flowers — été") is None
    assert (
        shape().title.problem("a\nb")
        == "title 'a\\nb' does not match ^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )


def test_pinned_digest_means_the_end_of_the_reference() -> None:
    from gallery_sync.rules import image_policy_finding

    image = "swr.cn-north-4.myhuaweicloud.com/acme/x@sha256:" + "ab" * 32
    assert image_policy_finding(image, ()) is None
    assert "not pinned by digest" in (image_policy_finding(image + "\n", ()) or "")


# Files that cannot be read are diagnostics at their line (tests run as root: simulated).


def test_unreadable_cover_and_description_are_diagnostics_at_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    (tmp_path / "covers").mkdir()
    (tmp_path / "covers" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "x.md").write_text("# x\n")
    real_open = os.open

    def deny(path: str, flags: int, *args: int) -> int:
        if str(path).endswith(("x.png", "x.md")):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    found = problems(
        tmp_path, asset("    title: Flowers\n    cover: covers/x.png\n    description_file: x.md\n")
    )
    assert found == [
        (10, "cannot read cover 'covers/x.png': Permission denied"),
        (11, "cannot read description_file 'x.md': Permission denied"),
    ]


def test_accepted_agreements_of_the_wrong_type_is_a_schema_error(tmp_path: Path) -> None:
    text = config(asset("    title: Flowers\n")).replace(
        "accepted_agreements: [digital-content-publishing, ai-gallery-service]",
        "accepted_agreements: 1",
    )
    (tmp_path / "gallery.yaml").write_text(text)
    loaded = load_config([str(tmp_path / "gallery.yaml")])
    assert [(d.code, d.place.line if d.place else 0, d.message) for d in loaded.diagnostics] == [
        ("schema", 4, "accepted_agreements: expected a list, got a number 1")
    ]


# The schema as an editor shows it: allowed values in every description, no SPEC references.


def test_schema_descriptions_name_allowed_values_and_no_spec() -> None:
    from gallery_sync.config.schema import schema
    from gallery_sync.defaults import DEFAULT_AGREEMENTS, DEFAULT_CATEGORIES

    texts = _strings_of(schema(), "description")
    assert not [t for t in texts if "SPEC" in t]
    assert "docs/reference.md" in schema()["description"]
    categories = schema()["$defs"]["asset"]["properties"]["categories"]["description"]
    assert all(c in categories for c in DEFAULT_CATEGORIES)
    agreements = schema()["properties"]["publisher"]["properties"]["accepted_agreements"]
    assert all(a in agreements["description"] for a in DEFAULT_AGREEMENTS)
    visibility = schema()["$defs"]["asset"]["properties"]["visibility"]["description"]
    assert "names no visibility is only_me" in visibility
