"""Fuzzing load -> validate -> plan: generated configs, valid and not, never raise.

Each example starts from a valid config (with a cover and a description file) and applies up
to three mutations of its data (a key dropped, a value replaced by another YAML type: a date,
binary, a float, null, a bool, a list, a mapping, text with control characters) and up to two
of its text (a value replaced by a hostile YAML token, random bytes inserted). Whatever comes
out, loading, the static checks and planning (against an empty gallery and against one that
holds the asset already, public) must end in diagnostics with known codes, never an exception.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery_sync.config import load_config
from gallery_sync.config.static import check_static
from gallery_sync.defaults import DEFAULT_AGREEMENTS, DEFAULT_CATEGORIES
from gallery_sync.diagnostics import CODES
from gallery_sync.engine import desired_state
from gallery_sync.model import Application, Catalog, GalleryState, Visibility, VisibilityLevel
from gallery_sync.plan import build_plan

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
VALID: dict[str, Any] = {
    "apiVersion": "gallery-sync/v1",
    "publisher": {"account": "acme-ml", "accepted_agreements": sorted(DEFAULT_AGREEMENTS)},
    "defaults": {"region": "cn-north-4"},
    "assets": {
        "flowers": {
            "title": "Flowers",
            "cover": "covers/flowers.png",
            "description_file": "docs/flowers.md",
            "categories": ["computer-vision", "image-classification"],
            "visibility": {"specific_users": ["alice", "bob"]},
            "duration_limit": {"days": 90, "auto_renew": True},
            "status": "released",
            "versions": [
                {"version": "1.0.0", "ai_application": "flowers-resnet50", "description": "One"},
                {
                    "version": "1.1.0",
                    "region": "cn-east-3",
                    "ai_application": "flowers-resnet50-v2",
                    "status": "released",
                },
            ],
        },
        "invoice": {
            "title": "Invoice OCR",
            "description": "Reads invoices.",
            "versions": [{"version": "0.1.0", "ai_application": "invoice-ocr-layoutlm"}],
        },
    },
}
CATALOG = Catalog(
    categories=frozenset(DEFAULT_CATEGORIES),
    agreements=frozenset(DEFAULT_AGREEMENTS),
    applications={
        (a.region, a.name): a
        for a in (
            Application("flowers-resnet50", "cn-north-4"),
            Application("flowers-resnet50-v2", "cn-east-3"),
            Application("invoice-ocr-layoutlm", "cn-north-4"),
        )
    },
)
HOSTILE_TOKENS = [
    b"!!python/object:os.system {}",
    b"!!python/object/apply:os.system [echo]",
    b"!!set {a, b}",
    b"!local x",
    b"*undefined",
    b"&a [*a]",
    b"2001-12-14",
    b"2001-13-45",
    b"2001-12-14 21:59:43.10 -5",
    b"1" * 5000,
    b"!!binary aGVsbG8=",
    b"!!int abc",
    b"{",
    b"[a, b",
    b"'unclosed",
    b'"unclosed',
    b"Sentiment: Chinese",
    b"\t",
    b"<<: 5",
    b"yes",
    b"~",
    b".nan",
    b"-.inf",
    b"0x1F",
    b"1:30",
    b"@at",
    b"- item",
    b"|x",
    b'"\\q"',
    b"\x00",
    b"\xff\xfe",
    "\u202e\u009b".encode(),
]
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.text(max_size=12),
    st.text(alphabet=st.characters(max_codepoint=0x40), max_size=6),
    st.dates(),
    st.datetimes(),
    st.binary(max_size=6),
    st.lists(st.integers(min_value=0, max_value=9), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(min_value=0, max_value=9), max_size=2),
)


def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and item path of the data."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        yield (*path, key)
        if isinstance(value, (dict, list)) and value:
            yield from _paths(value, (*path, key))


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    data = copy.deepcopy(VALID)
    # Often none of one kind or the other, so that valid documents are planned too.
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        paths = list(_paths(data))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_values)
    lines = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode().split(b"\n")
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        if draw(st.booleans()):
            colon = line.find(b": ")
            head = line[: colon + 2] if colon >= 0 else line + b": "
            lines[index] = head + draw(st.sampled_from(HOSTILE_TOKENS))
        else:
            at = draw(st.integers(0, len(line)))
            lines[index] = line[:at] + draw(st.binary(min_size=1, max_size=4)) + line[at:]
    return b"\n".join(lines)


def _check(text: bytes) -> str:
    """Load, check and plan one document; the outcome, for the tally."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "covers").mkdir()
        (root / "covers" / "flowers.png").write_bytes(PNG)
        (root / "docs").mkdir()
        (root / "docs" / "flowers.md").write_text("# Flowers\n")
        (root / "gallery.yaml").write_bytes(text)
        config = load_config([str(root / "gallery.yaml")])
        found = config.diagnostics + check_static(config)
        assert all(d.code in CODES for d in found)
        if not config.valid:
            assert any(d.is_error for d in config.diagnostics)
            return "invalid"
        public = {
            asset_id: replace(asset, visibility=Visibility(VisibilityLevel.PUBLIC), revision=3)
            for asset_id, asset in config.assets.items()
        }
        for state in (GalleryState({}), GalleryState(public)):
            plan = build_plan(
                desired_state(config), state, CATALOG, gallery="sqlite:////fuzz/gallery.db"
            )
            assert all(d.code in CODES for d in plan.diagnostics)
        return "valid"


def test_the_seed_is_valid_and_plans() -> None:
    text = yaml.safe_dump(VALID, sort_keys=False).encode()
    assert _check(text) == "valid"


def test_a_path_no_file_system_takes_is_a_diagnostic_at_its_line() -> None:
    """Found by the fuzzer: `cover: "\\0"` raised ValueError (embedded null byte)."""
    text = yaml.safe_dump(VALID, sort_keys=False).encode()
    for written, key in ((b'"\\0"', b"cover"), (b'"docs/a\\0b.md"', b"description_file")):
        line = next(li for li in text.split(b"\n") if li.strip().startswith(key + b":"))
        mutated = text.replace(line, line.split(b":")[0] + b": " + written)
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in (("covers/flowers.png", PNG), ("docs/flowers.md", b"# F\n")):
                (Path(tmp) / name).parent.mkdir(exist_ok=True)
                (Path(tmp) / name).write_bytes(data)
            (Path(tmp) / "gallery.yaml").write_bytes(mutated)
            config = load_config([str(Path(tmp) / "gallery.yaml")])
        found, *others = config.diagnostics
        assert others == [], others
        name = written.decode().strip('"').replace("\\0", "\\x00")
        assert (found.code, found.message) == (
            "file-not-found",
            f"{key.decode()} '{name}' holds a NUL character, which no file can",
        )
        assert found.place is not None and found.place.line == text.split(b"\n").index(line) + 1


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=documents())
def test_load_validate_plan_never_raise(text: bytes) -> None:
    _check(text)
