"""A config read while it is parsed (each asset built and its parsed body let go at once) is
the Config the whole-document path reads, diagnostics included; a document with any finding
is read whole, as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gallery_sync.config import loader
from gallery_sync.config.loader import Config, load_config

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
HEAD = """apiVersion: gallery-sync/v1
publisher:
  account: acme-ml
  accepted_agreements: [digital-content-publishing, ai-gallery-service]
defaults:
  region: cn-north-4
"""
CLEAN = (
    HEAD
    + """assets:
  flowers:
    title: Flowers
    cover: covers/flowers.png
    description_file: docs/flowers.md
    categories: [computer-vision]
    visibility: public
    versions:
      - version: "1.0.0"
        ai_application: flowers-resnet50
      - version: "1.1.0"
        region: cn-east-3
        ai_application: flowers-resnet50-v2
        description: Retrained.
  invoices:
    title: Invoices
    cover: covers/flowers.png
    description: Reads invoices.
    visibility: {specific_users: [bob, alice]}
    duration_limit: {days: 30, auto_renew: true}
    versions:
      - {version: "2.0.0", ai_application: invoice-ocr-layoutlm, status: discontinued}
      - {version: "2.1.0", ai_application: invoice-ocr-layoutlm}
"""
)
SECOND = (
    HEAD
    + """assets:
  summarizer:
    title: Summarizer
    versions:
      - version: "0.1.0"
        ai_application: summarizer-t5
"""
)


def with_asset(text: str, body: str) -> str:
    return text + "  late:\n" + body


# name -> files of a config; every one is also read whole, and the two must agree.
CASES: dict[str, dict[str, str]] = {
    "clean": {"gallery.yaml": CLEAN},
    "two files": {"a.yaml": CLEAN, "b.yaml": SECOND},
    "defaults after the assets": {
        "gallery.yaml": CLEAN.replace(HEAD, HEAD.replace("defaults:\n  region: cn-north-4\n", ""))
        + "defaults:\n  region: cn-north-4\n"
    },
    "a region only from defaults that come after": {
        "gallery.yaml": SECOND.replace("defaults:\n  region: cn-north-4\n", "")
        + "defaults:\n  region: cn-east-3\n"
    },
    "a description file missing": {
        "gallery.yaml": with_asset(
            CLEAN,
            "    title: Late\n    description_file: docs/nowhere.md\n"
            '    versions: [{version: "1.0.0", ai_application: x}]\n',
        )
    },
    "an asset out of shape": {
        "gallery.yaml": with_asset(CLEAN, "    title: Late\n    versions: []\n    colour: red\n")
    },
    "a version listed twice": {
        "gallery.yaml": with_asset(
            CLEAN,
            '    title: Late\n    versions: [{version: "1.0.0", ai_application: a},'
            ' {version: "1.0.0", ai_application: b}]\n',
        )
    },
    "a top-level key unknown": {
        "gallery.yaml": CLEAN.replace("defaults:", "colour: red\ndefaults:")
    },
    "a top-level key after the assets": {"gallery.yaml": CLEAN + "colour: red\n"},
    "an asset in two files": {"a.yaml": CLEAN, "b.yaml": SECOND.replace("summarizer:", "flowers:")},
    "defaults that differ between files": {
        "a.yaml": CLEAN,
        "b.yaml": SECOND.replace("region: cn-north-4", "region: cn-east-3"),
    },
    "an asset id out of shape": {"gallery.yaml": SECOND.replace("summarizer:", "Summarizer:")},
    "an anchor": {
        "gallery.yaml": CLEAN.replace("title: Flowers", "title: &t Flowers").replace(
            "title: Invoices", "title: *t"
        )
    },
    "a date where a string goes": {
        "gallery.yaml": SECOND.replace("title: Summarizer", "title: 2024-01-01")
    },
}


VALID = {
    "an anchor",
    "clean",
    "two files",
    "defaults after the assets",
    "a region only from defaults that come after",
}


def write(root: Path, files: dict[str, str]) -> None:
    (root / "covers").mkdir()
    (root / "covers" / "flowers.png").write_bytes(PNG)
    (root / "docs").mkdir()
    (root / "docs" / "flowers.md").write_text("# Flowers\r\nClassifies flowers.\n")
    for name, text in files.items():
        (root / name).write_text(text)


def summary(config: Config) -> dict[str, Any]:
    return {
        "files": config.files,
        "publisher": config.publisher,
        "agreements": config.accepted_agreements,
        "assets": config.assets,
        "assets in order": list(config.assets),
        "well typed": config.well_typed,
        "inputs": config.inputs,
        "covers": config.covers,
        "declared in": {a: d.file for a, d in config.asset_docs.items()},
        "diagnostics": [
            (d.code, d.message, d.place, d.asset, d.version) for d in config.diagnostics
        ],
        "places": {a: config.place(a, "1.0.0", "ai_application") for a in config.asset_docs},
    }


class Parses:
    """load_yaml as the loader calls it, counted; and each asset handed over while parsed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.taken: list[str] = []
        self.most_pending = 0
        real, take = loader.load_yaml, loader._Streaming.take

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        def spied(streaming: Any, top: dict[str, Any], asset_id: str, body: Any) -> Any:
            # Every asset before this one has been let go: the parse never holds them all.
            before = list(top["assets"])[:-1]
            assert all(top["assets"][a] is None for a in before[: len(self.taken)])
            result = take(streaming, top, asset_id, body)
            if result is None:
                self.taken.append(asset_id)
            self.most_pending = max(self.most_pending, len(streaming.pending))
            return result

        monkeypatch.setattr(loader, "load_yaml", counted)
        monkeypatch.setattr(loader._Streaming, "take", spied)


@pytest.mark.parametrize("batch", [1, 500])
@pytest.mark.parametrize("case", CASES)
def test_a_config_read_while_parsed_is_the_one_read_whole(
    case: str, batch: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, CASES[case])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loader._Streaming, "BATCH", batch)
    streamed = summary(load_config([str(tmp_path)]))
    with monkeypatch.context() as whole_only:
        whole_only.setattr(loader._Streaming, "of", classmethod(lambda cls, *args: None))
        whole = summary(load_config([str(tmp_path)]))
    assert streamed == whole
    assert bool(whole["assets"]) == (case in VALID), whole


def test_a_clean_config_is_parsed_once_and_every_asset_read_while_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, CASES["two files"])
    parses = Parses(monkeypatch)
    monkeypatch.setattr(loader._Streaming, "BATCH", 1)  # each body read as soon as it ends
    config = load_config([str(tmp_path)])
    assert config.valid and list(config.assets) == ["flowers", "invoices", "summarizer"]
    assert parses.count == 2 and parses.taken == ["flowers", "invoices", "summarizer"]
    assert parses.most_pending == 0  # none held past its batch


@pytest.mark.parametrize(
    ("case", "parses"),
    [
        ("a description file missing", 2),  # the first assets were let go: read again
        ("defaults after the assets", 2),
        ("a top-level key after the assets", 2),
        ("an asset out of shape", 2),
        ("an anchor", 1),  # the full reader: nothing was let go
        ("an asset id out of shape", 2),
    ],
)
def test_a_document_with_a_finding_is_read_again_whole(
    case: str, parses: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, CASES[case])
    counted = Parses(monkeypatch)
    load_config([str(tmp_path)])
    assert counted.count == parses
