"""YAML loading: positions, repeated keys, bombs and other hostile input."""

from __future__ import annotations

from gallery_sync.config.yamlload import MAX_FILE_BYTES, load_yaml


def codes(doc: object) -> list[tuple[str, int | None]]:
    return [(d.code, d.place.line if d.place else None) for d in doc.diagnostics]  # type: ignore[attr-defined]


def test_positions_of_keys_and_items_are_one_based() -> None:
    doc = load_yaml(b"a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert doc.positions[("a",)] == (1, 1)
    assert doc.positions[("b", 0)] == (3, 5)
    assert doc.positions[("b", 1, "c")] == (4, 6)
    assert doc.place(("b", 1, "c", "missing")).line == 4


def test_repeated_key_is_an_error_at_the_repeat() -> None:
    doc = load_yaml(b"a: 1\nb: 2\na: 3\n", "f.yaml")
    assert codes(doc) == [("duplicate-key", 3)]
    assert "first at line 1" in doc.diagnostics[0].message


def test_repeated_key_nested_deep() -> None:
    doc = load_yaml(b"x:\n  y:\n    z: 1\n    z: 2\n", "f.yaml")
    assert codes(doc) == [("duplicate-key", 4)]


def test_billion_laughs_is_refused() -> None:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghij":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    doc = load_yaml(text.encode(), "bomb.yaml")
    assert [c for c, _ in codes(doc)] == ["input-too-large"]
    assert doc.data is None


def test_modest_aliases_are_fine() -> None:
    doc = load_yaml(b"base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: *b\n", "f.yaml")
    assert doc.diagnostics == []
    assert doc.data["two"] == {"x": 1, "y": [1, 2]}


def test_oversized_file_is_refused_before_parsing() -> None:
    doc = load_yaml(b" " * (MAX_FILE_BYTES + 1), "big.yaml")
    assert codes(doc) == [("input-too-large", 1)]


def test_deep_nesting_is_refused() -> None:
    doc = load_yaml(b"a: " + b"[" * 200 + b"]" * 200 + b"\n", "deep.yaml")
    assert [c for c, _ in codes(doc)] == ["input-too-large"]


def test_syntax_error_has_the_parsers_line_and_column() -> None:
    doc = load_yaml(b"a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    [d] = doc.diagnostics
    assert d.code == "yaml-syntax" and d.place is not None and d.place.line == 3


def test_two_documents_are_a_syntax_error() -> None:
    doc = load_yaml(b"a: 1\n---\nb: 2\n", "f.yaml")
    assert [c for c, _ in codes(doc)] == ["yaml-syntax"]


def test_unknown_tag_is_a_syntax_error_not_a_crash() -> None:
    doc = load_yaml(b"a: !!python/object:os.system echo\n", "f.yaml")
    assert [c for c, _ in codes(doc)] == ["yaml-syntax"]


def test_merge_keys_with_explicit_keys_winning() -> None:
    doc = load_yaml(b"d: &d {x: 1, y: 1}\nm:\n  <<: *d\n  y: 2\n", "f.yaml")
    assert doc.data["m"] == {"x": 1, "y": 2}
    assert doc.diagnostics == []


def test_keys_keep_their_source_text() -> None:
    doc = load_yaml(b"on: 1\n1.0: 2\nnull: 3\n", "f.yaml")
    assert list(doc.data) == ["on", "1.0", "null"]


def test_raw_text_of_non_string_scalars_is_kept() -> None:
    doc = load_yaml(b"version: 1.10\n", "f.yaml")
    assert doc.data["version"] == 1.1
    assert doc.raw[("version",)] == "1.10"


def test_non_scalar_key_is_an_error() -> None:
    doc = load_yaml(b"? [a, b]\n: 1\n", "f.yaml")
    assert [c for c, _ in codes(doc)] == ["yaml-syntax"]


def test_empty_file_has_no_data_and_no_crash() -> None:
    doc = load_yaml(b"", "f.yaml")
    assert doc.data is None and doc.diagnostics == []


def test_invalid_utf8_is_a_syntax_error() -> None:
    doc = load_yaml(b"a: \xff\xfe\n", "f.yaml")
    assert [c for c, _ in codes(doc)] == ["yaml-syntax"]
