"""YAML loading: positions, repeated keys, bombs and other hostile input."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pytest
import yaml
import yaml._yaml
import yaml.events
from hypothesis import given, settings
from hypothesis import strategies as st

from gallery_sync.config import yamlload
from gallery_sync.config.yamlload import MAX_FILE_BYTES, Document, _read_full, load_yaml
from gallery_sync.diagnostics import Place

# The fast reader's two sources of tokens: libyaml's parser with its event classes swapped, and
# real events made into tokens (where the swap does not take: no C extension, or a PyYAML whose
# parser no longer finds the classes in its module). Both must read every document alike.
TOKEN_SOURCES = ["swapped", "real events"]


@contextmanager
def tokens_from(source: str) -> Iterator[None]:
    if source == "swapped":
        with nullcontext():
            yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yamlload, "_TOKEN_MAKERS", {})  # nothing swapped: the parser's own events
        yield


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


def test_unclosed_bracket_is_reported_where_it_opened() -> None:
    doc = load_yaml(b"a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    [d] = doc.diagnostics
    assert (d.code, d.place) == ("yaml-syntax", Place("f.yaml", 2, 4))
    assert d.message == (
        "not valid YAML: did not find expected ',' or ']' — the [ opened here is not closed "
        "before line 3 — end the list with ]"
    )


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


# The fast reader (events straight to data) and the full reader (node tree with positions)
# must agree on every document the fast one accepts.

COMMON = [
    b"a: 1\nb: -2\nc: 0o17\nd: 0x1F\ne: 1_000\nf: +3\n",
    b"a: 1.5\nb: .inf\nc: -.Inf\nd: .nan\ne: 1e3\nf: 6.8523015e+5\ng: 1.10\n",
    b"a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: y\nh: n\n",
    b"a: ~\nb: null\nc:\nd: Null\ne: ''\nf: \"\"\n",
    b"a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: '2001-12-14'\n",
    b'a: "1.0"\nb: \'yes\'\nc: "~"\nd: "<<"\nf: "="\n',
    b"a: |\n  line one\n  line two\nb: >\n  folded\n  text\nc: |-\n  kept\n",
    b"a: {x: [1, {y: [[], {}]}], z: []}\nb: [[1, 2], [3, [4, [5]]]]\n",
    b"- 1\n- two\n- [3]\n- {four: 4}\n",
    b"just a scalar\n",
    b"on: 1\n1.0: 2\nnull: 3\n'<<': 4\n? plain key\n: explicit value\n",
    "title: Blumen \U0001f338 — Ünïcödé\n".encode(),
    b"%YAML 1.1\n---\na: 1\n...\n",
    b"# only a comment\n",
    b"",
    b"a: " + b"1" * 5000 + b"\nb: -" + b"2" * 4301 + b"\n",  # too long to read as a number
]
UNUSUAL = [
    b"base: &b {x: 1}\none: *b\n",
    b"d: &d {x: 1, y: 1}\nm:\n  <<: *d\n  y: 2\n",
    b"a: !!str 1.0\nb: !!int '3'\n",
    b"a: 1\nb: 2\na: 3\n",
    b"a: " + b"[" * 70 + b"]" * 70 + b"\n",
    b"a: 1\n---\nb: 2\n",
    b"a: [1, 2\n",
    b"a: =\n",
    b"? [a, b]\n: 1\n",
    b"a: 2001-13-45\n",  # date-shaped, but no date: text
    b"a: !!python/object:x {b: 1}\nc: !!set {d}\ne: !local [f]\n",
]


def full_read(data: bytes) -> Document:
    doc = Document("f.yaml", _positions={}, _raw={})
    _read_full(doc, data)
    return doc


@pytest.mark.parametrize("source", TOKEN_SOURCES)
@pytest.mark.parametrize("data", COMMON)
def test_fast_reader_matches_the_full_reader_and_skips_positions(data: bytes, source: str) -> None:
    with tokens_from(source):
        doc = load_yaml(data, "f.yaml")
    assert doc._positions is None, "a common document must take the fast path"
    full = full_read(data)
    assert full.diagnostics == [] and doc.diagnostics == []
    assert doc.data == full.data
    assert repr(doc.data) == repr(full.data)  # same types too: 1 vs 1.0 vs True, nan
    # Positions asked for afterwards are the full reader's.
    assert doc.positions == full.positions and doc.raw == full.raw


@pytest.mark.parametrize("source", TOKEN_SOURCES)
@pytest.mark.parametrize("data", UNUSUAL)
def test_unusual_documents_go_to_the_full_reader(data: bytes, source: str) -> None:
    with tokens_from(source):
        doc = load_yaml(data, "f.yaml")
    assert doc._positions is not None, "the full reader ran at load"
    full = full_read(data)
    assert repr(doc.data) == repr(full.data)
    assert [(d.code, d.place) for d in doc.diagnostics] == [
        (d.code, d.place) for d in full.diagnostics
    ]


def test_a_place_asked_of_a_fast_read_document_is_exact() -> None:
    doc = load_yaml(b"assets:\n  a:\n    versions:\n      - version: '1.0.0'\n", "f.yaml")
    assert doc._positions is None
    assert doc.place(("assets", "a", "versions", 0, "version")) == Place("f.yaml", 4, 9)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["yes", "on", "~", "1.0", "0x1F", "2001-12-14", "<<x", "-", ": x", "#"]),
)
_documents = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(data=_documents, flow=st.booleans(), source=st.sampled_from(TOKEN_SOURCES))
def test_fast_reader_agrees_with_pyyaml_on_generated_documents(
    data: object, flow: bool, source: str
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True).encode()
    with tokens_from(source):
        doc = load_yaml(text, "f.yaml")
    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    assert doc.diagnostics == []
    assert repr(doc.data) == repr(expected)
    assert repr(doc.data) == repr(full_read(text).data)


def test_every_non_standard_tag_is_refused_at_its_line_whatever_it_tags() -> None:
    text = (
        b"a: !!python/object:os.system {b: 1}\n"
        b"c: !!python/tuple [1]\n"
        b"d: !!python/name:os.system x\n"
        b"e: !!set {f}\n"
        b"!!python/str g: 1\n"
        b"h: !!str {i: 1}\n"
        b"j: !!str 1.0\n"  # a standard tag that fits its value: fine
    )
    doc = load_yaml(text, "f.yaml")
    assert codes(doc) == [("yaml-syntax", n) for n in (1, 2, 3, 4, 5, 6)]
    assert doc.diagnostics[0].message == (
        "the tag !!python/object:os.system is not allowed: a gallery file holds plain YAML values "
        "(strings, numbers, true/false, lists, mappings); remove !!python/object:os.system from "
        "a mapping"
    )
    assert doc.data["a"] == {"b": 1} and doc.data["j"] == "1.0"


def test_dates_binary_and_huge_integers_are_kept_for_the_schema_to_refuse() -> None:
    import datetime

    from gallery_sync.config.yamlload import HugeNumber

    doc = load_yaml(b"a: 2001-12-14\nb: !!binary aGk=\nc: " + b"9" * 4400 + b"\n", "f.yaml")
    assert doc.diagnostics == []
    assert doc.data["a"] == datetime.date(2001, 12, 14)
    assert doc.data["b"] == b"hi"
    assert doc.data["c"] == HugeNumber("9" * 4400)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            b"a:\n  title: Sentiment: Chinese\n",
            2,
            "mapping values are not allowed here — a value containing ': ' must be quoted: "
            'title: "Sentiment: Chinese"',
        ),
        (
            b"a:\n\tb: 1\n",
            2,
            "found character that cannot start any token — a tab indents this line; YAML indents "
            "with spaces only — replace the tab with spaces",
        ),
        (
            b"a:\n  b 1\n  c: 2\n",
            2,
            "mapping values are not allowed here — line 2 'b 1' is not a 'key: value' — a key "
            "needs ': ' after it (or quote the whole line if it is text)",
        ),
        (
            b"a:\n  b: 1\n  c\n",
            3,
            "could not find expected ':' — 'c' is not a 'key: value' — a key needs ': ' after it "
            "(a list item starts with '- ')",
        ),
        (
            b"a:\n  b: 'x\n",
            2,
            "found unexpected end of stream — the quote ' opened here is never closed — end the "
            "value with ' on this line (inside double quotes write \\\" for a quote; inside "
            "single quotes write '')",
        ),
    ],
)
def test_syntax_error_hints(text: bytes, line: int, message: str) -> None:
    [d] = load_yaml(text, "f.yaml").diagnostics
    assert (d.code, d.place, d.message) == (
        "yaml-syntax",
        Place("f.yaml", line, d.place.column if d.place else 0),
        "not valid YAML: " + message,
    )


def test_utf16_is_refused_and_a_utf8_bom_is_read() -> None:
    assert codes(load_yaml("a: 1\n".encode("utf-16"), "f.yaml")) == [("yaml-syntax", 1)]
    assert load_yaml(b"\xef\xbb\xbfa: 1\n", "f.yaml").data == {"a": 1}


def test_a_message_quoting_a_huge_line_is_bounded() -> None:
    key = "k" * 5000
    for body in (f"  {key}\n  x: 1\n", f"  x: @{key}\n", f"  {key}: @x\n"):
        [found] = load_yaml(
            f"apiVersion: gallery-sync/v1\nassets:\n{body}".encode(), "g.yaml"
        ).diagnostics
        assert found.code == "yaml-syntax" and len(found.message) <= 400, len(found.message)
    [found] = load_yaml(f"a:\n  {key}\n  x: 1\n".encode(), "g.yaml").diagnostics
    assert "k… (5,000 characters)' is not a 'key: value'" in found.message


def test_the_fast_reader_keeps_one_string_of_each_repeated_name() -> None:
    text = "".join(
        f'a{i}:\n  categories: [{"o" + "cr"}, speech]\n  title: "T"\n  versions:\n'
        f'    - {{version: "1.0.0", region: cn-north-4, ai_application: app{i}}}\n'
        for i in range(2)
    )
    data = load_yaml(text.encode(), "g.yaml").data
    assert data == yaml.safe_load(text)
    first, second = data["a0"], data["a1"]
    assert first["categories"][0] is second["categories"][0]  # list items
    v0, v1 = first["versions"][0], second["versions"][0]
    assert v0["version"] is v1["version"] and v0["region"] is v1["region"]
    assert v0["ai_application"] is not v1["ai_application"]  # names, not every value


EVENT_CLASSES = sorted(yamlload._TOKEN_MAKERS)  # every event class the parser makes


@pytest.mark.parametrize(
    "data",
    [b"a: [1, {b: c}]\n", b"base: &b {x: 1}\none: *b\n", b"a: [1, 2\n", b"a: 1\n---\nb: 2\n"],
    ids=["read fast", "left to the full reader", "a syntax error", "two documents"],
)
def test_the_parser_has_its_own_event_classes_back_however_a_read_ends(data: bytes) -> None:
    load_yaml(data, "f.yaml")
    assert {n: getattr(yaml._yaml, n) for n in EVENT_CLASSES} == {
        n: getattr(yaml.events, n) for n in EVENT_CLASSES
    }
    events = list(yaml.parse(b"a: [1]\n", Loader=yaml.CSafeLoader))  # what others get
    assert [type(e).__name__ for e in events][:4] == [
        "StreamStartEvent",
        "DocumentStartEvent",
        "MappingStartEvent",
        "ScalarEvent",
    ]


def test_places_read_in_another_thread_during_fast_reads_are_exact() -> None:
    """A place is read from real events (their marks) while another thread reads fast with the
    classes swapped: each waits for the other, and neither sees the other's events."""
    big = b"".join(b"a%d:\n  b: [x, {c: 'y'}]\n" % i for i in range(3000))
    marked = load_yaml(b"top:\n  inner: [1, 2]\n", "m.yaml")
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_fast() -> None:
        try:
            while not stop.is_set():
                assert load_yaml(big, "big.yaml").data["a2999"] == {"b": ["x", {"c": "y"}]}
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    reader = threading.Thread(target=read_fast)
    reader.start()
    try:
        for _ in range(50):
            marked._positions = marked._raw = None
            assert marked.place(("top", "inner", 1)) == Place("m.yaml", 2, 14)
    finally:
        stop.set()
        reader.join()
    assert errors == []


@pytest.mark.parametrize(
    "text",
    [
        b"a: &x {b: 1}\nc: *x\nd:\n  - e\n",
        b"a: &x 1\nc: 2\nd:\n  - e\n",
        b"base: &b {b: 1}\nc:\n  <<: *b\n  x: 2\nd:\n  - e\n",
        b"a: !!str 1\nc: 2\nd:\n  - e\n",
    ],
)
def test_a_place_in_a_fully_read_document_whose_data_was_let_go_is_exact(text: bytes) -> None:
    # A loader lets the data go after load; a place asked for later reads the bytes again.
    # Anchors, aliases, tags and merge keys are the full reader's there too, as at load.
    doc = load_yaml(text, "g.yaml")
    assert doc.data is not None and doc._positions is not None  # read by the full reader
    whole = Document("g.yaml", _positions={}, _raw={})
    _read_full(whole, text)
    again = Document("g.yaml", source=text)
    assert again.kept_data() == whole.data == doc.data
    assert again.place(("d", 0)) == whole.place(("d", 0)) == Place("g.yaml", text.count(b"\n"), 5)
