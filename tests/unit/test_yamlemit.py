"""The hand-written YAML emitter: what it writes reads back, through both our readers and
PyYAML, as exactly what it was given, hostile strings included."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery_sync.config import yamlemit
from gallery_sync.config.yamlload import Document, _read_full, load_yaml

# Strings people and hostile galleries put in titles and descriptions: YAML's indicators and
# implicit types, controls, line breaks YAML normalises, unicode beyond the BMP, spaces at the
# edges of lines.
HOSTILE = [
    "yes",
    "no",
    "on",
    "off",
    "y",
    "N",
    "true",
    "False",
    "null",
    "~",
    "",
    " ",
    "1",
    "1.0",
    "1.0.0",
    "0x1F",
    "1e3",
    ".inf",
    "-.nan",
    "2001-12-14",
    "12:30",
    "<<",
    "=",
    "- a",
    "a: b",
    "a #b",
    "#c",
    "'q'",
    '"d"',
    "[x]",
    "{y}",
    "&a",
    "*a",
    "!t",
    "%p",
    "@q",
    "`r`",
    "|",
    ">",
    "?",
    ":",
    ",",
    "---",
    "...",
    "a\n",
    "\n",
    "\n\n",
    "a\n\n",
    " lead",
    "trail ",
    "t\t",
    "\ttab",
    "line\r\nbreak",
    "cr\r",
    "nel\x85x",
    "ls\u2028ps\u2029",
    "bom\ufeff",
    "del\x7f",
    "c1\x9b[31m",
    "\x1b[2J",
    "nul\x00",
    "bidi\u202eevil",
    "é ü 中文 😀",
    "  indented\nfirst",
    "\n  after blank",
    "a\n  \nb",
    "a\n   ",
    "x" * 5000,
    "end \nspace",
]
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=60),
    st.lists(st.sampled_from([*HOSTILE, "a", "b c", "  d"]), max_size=6).map("".join),
    st.lists(st.sampled_from(["# Title", "", "  code", "- item", "text ", "x: y"]), max_size=6).map(
        "\n".join
    ),
)
SCALARS = st.one_of(TEXT, st.integers(-(10**20), 10**20), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=20,
)


def read_back(text: str) -> tuple[Any, Any, Any]:
    """The data as the fast reader, the full reader and PyYAML read it."""
    data = text.encode()
    fast = load_yaml(data, "f.yaml")
    assert fast.diagnostics == []
    full = Document("f.yaml", _positions={}, _raw={})
    _read_full(full, data)
    assert full.diagnostics == []
    return fast.data, full.data, yaml.safe_load(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(TEXT, VALUES, max_size=6))
def test_what_it_writes_reads_back_the_same(data: dict[str, Any]) -> None:
    text = yamlemit.document(data)
    fast, full, pyyaml = read_back(text)
    expected = data or {}
    assert fast == expected
    assert full == expected
    assert pyyaml == expected


@pytest.mark.parametrize("text", HOSTILE)
def test_each_hostile_string_reads_back_as_a_value_and_a_key(text: str) -> None:
    data = {"key": text, text: ["item", text], "nested": {"v": text}}
    fast, full, _ = read_back(yamlemit.document(data))
    assert fast == full == data


def test_readable_where_exact() -> None:
    text = yamlemit.document(
        {
            "title": "Model number 1",
            "version": "1.0.0",
            "flag": "yes",
            "description": "# Model\n\nLine two.\n",
            "note": "two\nlines",
            "kept": "trailing\n\n",
            "indented": "  code\nmore",
            "crlf": "a\r\nb",
            "categories": ["ocr", "speech"],
            "days": 90,
            "auto_renew": True,
            "none": [],
        }
    )
    assert text == (
        "title: Model number 1\n"
        'version: "1.0.0"\n'
        'flag: "yes"\n'
        "description: |\n  # Model\n\n  Line two.\n"
        "note: |-\n  two\n  lines\n"
        "kept: |+\n  trailing\n\n"
        "indented: |2-\n    code\n  more\n"
        'crlf: "a\\r\\nb"\n'
        "categories:\n  - ocr\n  - speech\n"
        "days: 90\n"
        "auto_renew: true\n"
        "none: []\n"
    )


def test_unprintable_characters_are_escaped_not_written_raw() -> None:
    assert yamlemit.scalar("c1\x9b bidi\u202e nel\x85 del\x7f") == (
        '"c1\\u009b bidi\\u202e nel\\u0085 del\\u007f"'
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(TEXT, VALUES, max_size=6))
def test_places_read_from_events_are_the_full_readers(data: dict[str, Any]) -> None:
    # A document read fast gets its places from a second event pass, not the node tree.
    source = yamlemit.document(data).encode()
    fast = load_yaml(source, "f.yaml")
    full = Document("f.yaml", _positions={}, _raw={})
    _read_full(full, source)
    assert fast._positions is None  # read fast: places not read yet
    assert (fast.positions, fast.raw) == (full.positions, full.raw)
    fast.data = None
    assert fast.kept_data() == full.data
