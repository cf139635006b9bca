"""Apply of N new assets into PostgreSQL through the store, against plain executemany and COPY
of the same rows (read back from the applied database) into a fresh one: the write ratio.

    python benchmarks/pg_write.py [N] [--server postgresql://postgres@127.0.0.1:5432/test]

Makes two databases gs_bench_<pid>_{apply,floor} and drops them at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from generate import application, write_config  # noqa: E402

from gallery_sync.gallery.postgres import PostgresStore  # noqa: E402
from gallery_sync.gallery.sqlstore import bump_catalog_version  # noqa: E402

TABLES = ("assets", "versions", "audit")


def database(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def fresh(url: str, n: int) -> None:
    """A gallery that knows every AI application the generated file names."""
    store = PostgresStore.open(url, create=True)
    with store.transaction() as tx:
        tx.db.executemany(
            "INSERT INTO applications VALUES ('', ?, ?, NULL)",
            [application(i, v)[::-1] for i in range(n) for v in range(6)],
        )
        bump_catalog_version(tx.db)
    store.close()


def floors(applied: str, floor: str) -> tuple[float, float]:
    """Seconds to insert the applied rows into `floor`: executemany, then COPY."""
    with psycopg.connect(applied) as source:
        columns = {t: _written_columns(source, t) for t in TABLES}
        rows = {
            t: source.execute(f"SELECT {', '.join(columns[t])} FROM {t}").fetchall() for t in TABLES
        }
    out = []
    for method in ("executemany", "copy"):
        with psycopg.connect(floor) as db:
            db.execute("TRUNCATE audit, versions, subscriptions, assets")
            db.commit()
            start = time.perf_counter()
            with db.transaction(), db.cursor() as cursor:
                for table, values in rows.items():
                    if method == "copy":
                        names = ", ".join(columns[table])
                        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                            for row in values:
                                copy.write_row(row)
                    else:
                        marks = ", ".join(["%s"] * len(values[0]))
                        cursor.executemany(
                            f"INSERT INTO {table} ({', '.join(columns[table])}) VALUES ({marks})",
                            values,
                        )
            out.append(time.perf_counter() - start)
    return out[0], out[1]


def _written_columns(db: psycopg.Connection, table: str) -> list[str]:
    """The columns a write sets: not the generated ones (the full-text index's `search`)."""
    return [
        name
        for (name,) in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema() AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position",
            (table,),
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=10_000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    names = [f"gs_bench_{os.getpid()}_{what}" for what in ("apply", "floor")]
    with psycopg.connect(args.server, autocommit=True) as admin:
        for name in names:
            admin.execute(f"CREATE DATABASE {name}")
        try:
            applied, floor = (database(args.server, name) for name in names)
            fresh(applied, args.n)
            fresh(floor, 0)
            with tempfile.TemporaryDirectory() as work:
                config = Path(work) / "gallery.yaml"
                write_config(config, args.n)
                command = [sys.executable, "-m", "gallery_sync", "apply", "-f", str(config)]
                command += ["--auto-approve", "--gallery", applied]
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, cwd=work)
                whole = time.perf_counter() - start
            found = re.search(r"writes took ([0-9.]+) s", done.stdout + done.stderr)
            if done.returncode != 0 or not found:
                raise SystemExit(f"apply failed ({done.returncode}): {done.stderr[-800:]}")
            writes = float(found.group(1))
            many, copy = floors(applied, floor)
            print(f"apply of {args.n} new assets into PostgreSQL: whole command {whole:.2f} s")
            print(f"  writes (store):           {writes:.2f} s")
            print(f"  plain executemany:        {many:.2f} s  -> {writes / many:.2f}x")
            print(f"  COPY:                     {copy:.2f} s  -> {writes / copy:.2f}x")
        finally:
            for name in names:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
