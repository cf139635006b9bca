"""Generate a realistic gallery.yaml of N assets (every field, 5 versions each) for benchmarks:
every asset has a cover (16 images shared), every 4th its description in docs/<id>.md."""

from __future__ import annotations

import argparse
import random
import struct
import zlib
from pathlib import Path

CATEGORIES = ["computer-vision", "image-classification", "ocr", "text-generation", "speech"]
REGIONS = ["cn-north-4", "cn-east-3"]


def application(i: int, v: int) -> tuple[str, str]:
    return f"model-{i:05d}-v{v}", REGIONS[(i + v) % 2]


def generate(n: int, *, changed: float = 0.0, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = [
        "apiVersion: gallery-sync/v1",
        "publisher:",
        "  account: acme-ml",
        "  accepted_agreements: [digital-content-publishing, ai-gallery-service]",
        "defaults:",
        "  region: cn-north-4",
        "assets:",
    ]
    touched_count = 0
    for i in range(n):
        # A changed asset gets a new title; every 2nd also a new version note, every 3rd also
        # a new version (1.5.0), so deep version diffs and version writes are exercised too.
        touched = rng.random() < changed
        touched_count += touched
        vis = i % 3
        out.append(f"  asset-{i:05d}:")
        out.append(f"    title: Model number {i}{' (updated)' if touched else ''}")
        out.append(f"    cover: covers/cover-{i % COVERS:02d}.png")
        if i % 4 == 0:
            out.append(f"    description_file: docs/asset-{i:05d}.md")
        else:
            out.append(
                "    description: |\n"
                f"      Model {i} classifies things. It was trained on a data set of size "
                f"{i * 7}.\n"
                "      Accuracy and latency are listed in the version notes."
            )
        out.append(f"    categories: [{CATEGORIES[i % 5]}, {CATEGORIES[(i + 1) % 5]}]")
        if vis == 0:
            out.append("    visibility: only_me")
        elif vis == 1:
            out.append("    visibility:\n      specific_users: [alice, bob]")
        else:
            out.append("    visibility: public")
        out.append("    duration_limit:\n      days: 90\n      auto_renew: true")
        out.append("    status: released")
        out.append("    versions:")
        for v in range(6 if touched and touched_count % 3 == 0 else 5):
            name, region = application(i, v)
            note = " Now faster." if touched and touched_count % 2 == 0 and v == 4 else ""
            out.append(f'      - version: "1.{v}.0"')
            out.append(f"        region: {region}")
            out.append(f"        ai_application: {name}")
            out.append(f"        description: Release {v} of model {i}.{note}")
    return "\n".join(out) + "\n"


COVERS = 16


def write_config(path: Path, n: int, *, changed: float = 0.0) -> None:
    """The config at `path`, and the covers and description files it names next to it."""
    path.write_text(generate(n, changed=changed))
    covers, docs = path.parent / "covers", path.parent / "docs"
    covers.mkdir(exist_ok=True)
    docs.mkdir(exist_ok=True)
    for c in range(COVERS):
        (covers / f"cover-{c:02d}.png").write_bytes(_png(c))
    for i in range(0, n, 4):
        (docs / f"asset-{i:05d}.md").write_text(
            f"# Model {i}\n\nModel {i} classifies things. It was trained on a data set of "
            f"size {i * 7}.\n\n| metric | value |\n| --- | --- |\n| accuracy | 0.9{i % 10} |\n"
        )


def _png(shade: int) -> bytes:
    """A real 8x8 grey PNG, one shade per cover."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([shade * 16]) * 8 for _ in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--changed", type=float, default=0.0)
    args = parser.parse_args()
    write_config(args.output, args.n, changed=args.changed)


if __name__ == "__main__":
    main()
