"""Benchmark the web gallery's pages on PostgreSQL (issue 13): 10,000 public assets; the Models
page, a filtered search page and an asset page with a 20,000-character description, each
against the JSON of the same query (`/models.json`, `/models/{id}.json`: the same store
calls, serialised with orjson instead of rendered). p50/p99 of the server's time to answer
(its Server-Timing header); each page's p50 must be at most 3x its JSON's.

    python benchmarks/web.py [--assets 10000] [--requests 200] [--server postgresql://...]

Exit 1 if a ratio is over 3, 2 if PostgreSQL does not answer.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

LIMIT = 3.0
WORDS = ["tulip", "rose", "daisy", "invoice", "speech", "vision", "layout", "summary"]
CATEGORIES = ["computer-vision", "ocr", "speech", "translation", "text-generation", "other"]


def seed(url: str, count: int) -> None:
    from gallery_sync.gallery.postgres import PostgresStore
    from gallery_sync.gallery.service import StoredWrite
    from gallery_sync.model import Asset, Version, Visibility, VisibilityLevel

    store = PostgresStore.open(url, create=True)
    public = Visibility(VisibilityLevel.PUBLIC)
    versions = (Version("1.0.0", "cn-north-4", "app"), Version("1.1.0", "cn-north-4", "app"))
    long_text = ("## Long\n\n" + "A *long* description with [a link](https://example.org). " * 400)[
        :20_000
    ]
    assets = [
        Asset(
            f"model-{i:05}",
            f"publisher-{i % 50}",
            f"Model {i} {WORDS[i % len(WORDS)]}",
            versions,
            description=f"Finds {WORDS[(i * 7) % len(WORDS)]} in data; model number {i}.",
            categories=tuple(sorted({CATEGORIES[i % 6], CATEGORIES[(i // 6) % 6]})),
            visibility=public,
        )
        for i in range(count - 1)
    ]
    assets.append(Asset("long-description", "publisher-0", "Long", versions,
                        description=long_text, visibility=public))  # fmt: skip
    for start in range(0, len(assets), 500):
        with store.transaction() as tx:
            tx.store([StoredWrite(a, 1, {}, []) for a in assets[start : start + 500]])
    store.db.execute(
        "UPDATE assets SET created_at = to_char(timestamp '2024-01-01' + "
        "(CAST(substr(id, 7) AS integer) * interval '1 minute'), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "WHERE id LIKE 'model-%'"
    )
    store.db.execute("ANALYZE")
    store.close()


def timings(client: object, paths: list[str], rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        response = client.get(paths[i % len(paths)])  # type: ignore[attr-defined]
        assert response.status_code == 200, (paths[i % len(paths)], response.status_code)
        # The server's own time (web.app's Server-Timing), free of the client and the network.
        out.append(float(response.headers["server-timing"].partition("dur=")[2]) / 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--server",
        default=os.environ.get("GALLERY_TEST_PG")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    import httpx
    import psycopg

    try:
        admin = psycopg.connect(args.server, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        print(f"web benchmark: PostgreSQL does not answer at {args.server}: {exc}".strip())
        return 2
    name = f"gs_bench_web_{os.getpid()}_{secrets.token_hex(3)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(args.server)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    server = None
    try:
        started = time.perf_counter()
        seed(url, args.assets)
        print(f"web benchmark: {args.assets:,} public assets on PostgreSQL "
              f"(seeded in {time.perf_counter() - started:.1f} s)")  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "gallery_sync.web.app", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        base = server.stdout.readline().removeprefix("serving on ").strip()
        pages = [f"?page={p}" for p in range(1, 41)]
        cases = [
            ("Models page", [f"/models{q}" for q in pages], [f"/models.json{q}" for q in pages]),
            (
                "filtered search",
                [f"/models?q=tulip&category=ocr&category=speech&page={p}" for p in range(1, 6)],
                [
                    f"/models.json?q=tulip&category=ocr&category=speech&page={p}"
                    for p in range(1, 6)
                ],
            ),
            (
                "asset, 20,000-char description",
                ["/models/long-description"],
                ["/models/long-description.json"],
            ),
        ]
        failed = False
        with httpx.Client(base_url=base, timeout=30) as client:
            for label, html, json_paths in cases:
                timings(client, html + json_paths, 20)  # warm-up: connections, caches
                page = timings(client, html, args.requests)
                same = timings(client, json_paths, args.requests)
                p50, p99 = statistics.median(page), statistics.quantiles(page, n=100)[98]
                j50, j99 = statistics.median(same), statistics.quantiles(same, n=100)[98]
                ratio = p50 / j50
                verdict = "ok" if ratio <= LIMIT else f"OVER {LIMIT:g}x"
                failed |= ratio > LIMIT
                print(
                    f"  {label:32} HTML p50 {p50 * 1000:6.1f} ms p99 {p99 * 1000:6.1f} ms | "
                    f"JSON p50 {j50 * 1000:6.1f} ms p99 {j99 * 1000:6.1f} ms | "
                    f"{ratio:.2f}x {verdict}"
                )
        return 1 if failed else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
