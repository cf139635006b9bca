"""The served gallery against the embedded one and against bare floors, in one run (issue 12):

- plan with no changes through `serve` on loopback / the same plan on the embedded gallery
  (target ≤ 1.5×);
- apply of N new assets through `serve` / the embedded apply, whole commands (≤ 2×);
- apply through `serve` on PostgreSQL: its writes / plain executemany and / COPY of the same
  rows (≤ 3×; both ratios printed);
- GET of one asset, 32 concurrent connections: requests/s of `serve` / a bare ASGI app
  returning the same bytes under the same server (uvicorn) (≥ 0.5×), p50 and p99 latency.

Each figure and its baseline are measured back to back, round by round; a ratio is the median
of the rounds' ratios (bench.py's helpers). The load generator is `wrk` when it is installed
(`apt-get install wrk`), else a Python asyncio client with a bounded number of requests: the
same client measures both apps.

    python benchmarks/serve_bench.py [--assets 10000] [--repeat 3]
        [--pg postgresql://postgres@127.0.0.1:5432/test]   ('' skips PostgreSQL)
        [--only plan-apply|get|pg-writes]...                (default: all three)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import PY, gs, ratio  # noqa: E402
from generate import write_config  # noqa: E402
from pg_write import database, floors  # noqa: E402

ACCOUNT = "acme-ml"  # generate.py's publisher
CONNECTIONS = 32
LOAD_SECONDS = 5
PY_REQUESTS = 20_000  # the Python client's bound, per app

FRESH = """
import sys
sys.path.insert(0, {here!r})
from generate import application
from gallery_sync.server.app import open_store
from gallery_sync.gallery.sqlstore import bump_catalog_version
store = open_store(sys.argv[1], create=True)
with store.transaction() as tx:
    rows = [application(i, v)[::-1] for i in range(int(sys.argv[3])) for v in range(6)]
    tx.db.executemany(
        "INSERT INTO applications VALUES (?, ?, ?, NULL)", [(sys.argv[2], *r) for r in rows]
    )
    bump_catalog_version(tx.db)
store.close()
"""


def fresh_store(url: str, n: int, account: str) -> None:
    """A store (SQLite or PostgreSQL) that knows, for `account` ('' for the embedded gallery),
    every AI application the generated file names, and no assets."""
    subprocess.run([PY, "-c", FRESH.format(here=str(HERE)), url, account, str(n)], check=True)


def token(store: str) -> str:
    made = subprocess.run(
        gs("admin", "token", "create", "--account", ACCOUNT, "--store", store),
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip()


@contextmanager
def serving(store: str, work: Path) -> Iterator[str]:
    """`gallery-sync serve` on a free loopback port: its URL until the block ends (SIGTERM)."""
    log = (work / f"serve-{time.monotonic_ns()}.log").open("w+")
    proc = subprocess.Popen(
        gs("serve", "--store", store, "--port", "0"), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield _started(proc, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _started(proc: subprocess.Popen[bytes], log: object) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)  # type: ignore[attr-defined]
        text = log.read()  # type: ignore[attr-defined]
        found = re.search(r" on (http://\S+)", text)
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"serve exited {proc.returncode}: {text[-2000:]}")
        time.sleep(0.05)
    raise SystemExit("serve did not start in 60 s")


def client_env(url: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    env.update(GALLERY_URL=url, GALLERY_TOKEN=secret)
    return env


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout + done.stderr


def plan_and_apply(n: int, repeat: int, work: Path) -> None:
    """Rounds of: embedded apply, served apply (fresh galleries), then plan on each."""
    config = work / "gallery.yaml"
    write_config(config, n)
    applies: tuple[list[float], list[float]] = ([], [])
    plans: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        embedded = work / "embedded.db"
        served_db = work / "served.db"
        for path in (embedded, served_db):
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
        fresh_store(f"sqlite:///{embedded}", n, "")
        fresh_store(f"sqlite:///{served_db}", n, ACCOUNT)
        store = f"sqlite:///{served_db}"
        secret = token(store)
        with serving(store, work) as url:
            env = client_env(url, secret)
            emb = ["--gallery", f"sqlite:///{embedded}"]
            applies[0].append(timed(gs("apply", "--auto-approve", *emb), work)[0])
            applies[1].append(timed(gs("apply", "--auto-approve"), work, env)[0])
            plans[0].append(timed(gs("plan", "--detailed-exitcode", *emb), work)[0])
            plans[1].append(timed(gs("plan", "--detailed-exitcode"), work, env)[0])
    report("plan, no changes", plans, 1.5, "≤")
    report(f"apply of {n} new assets", applies, 2.0, "≤")


def report(what: str, pairs: tuple[list[float], list[float]], target: float, sign: str) -> None:
    baseline, figure = (statistics.median(p) for p in pairs)
    r = ratio(pairs[1], pairs[0])
    ok = r <= target if sign == "≤" else r >= target
    print(
        f"{what}: served {figure:.2f} s, embedded {baseline:.2f} s -> {r:.2f}x "
        f"(target {sign} {target}x) {'ok' if ok else 'MISSED'}",
        flush=True,
    )


def pg_writes(n: int, repeat: int, server: str, work: Path) -> None:
    """Apply through `serve` on PostgreSQL: its writes (the apply report's "writes took")
    against executemany and COPY of the rows it wrote, into a fresh database."""
    import psycopg

    config = work / "gallery.yaml"
    write_config(config, n)
    names = [f"gs_sbench_{os.getpid()}_{what}" for what in ("apply", "floor")]
    writes, many, copy = [], [], []
    with psycopg.connect(server, autocommit=True) as admin:
        try:
            for _ in range(repeat):
                for name in names:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    admin.execute(f"CREATE DATABASE {name}")
                applied, floor = (database(server, name) for name in names)
                fresh_store(applied, n, ACCOUNT)
                fresh_store(floor, 0, ACCOUNT)
                with serving(applied, work) as url:
                    _, out = timed(
                        gs("apply", "--auto-approve"), work, client_env(url, token(applied))
                    )
                found = re.search(r"writes took ([0-9.]+) s", out)
                if not found:
                    raise SystemExit(f"no 'writes took' in apply's report: {out[-800:]}")
                writes.append(float(found.group(1)))
                m, c = floors(applied, floor)
                many.append(m)
                copy.append(c)
        finally:
            for name in names:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    w = statistics.median(writes)
    for label, floor_times in (("executemany", many), ("COPY", copy)):
        r = ratio(writes, floor_times)
        print(
            f"apply's writes through serve on PostgreSQL: {w:.2f} s, plain {label} "
            f"{statistics.median(floor_times):.2f} s -> {r:.2f}x (target ≤ 3x) "
            f"{'ok' if r <= 3 else 'MISSED'}",
            flush=True,
        )


BARE = """
import sys, uvicorn
body = open(sys.argv[1], "rb").read()
headers = [(b"content-type", sys.argv[2].encode()), (b"content-length", str(len(body)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})

print("bare ASGI app on http://127.0.0.1:" + sys.argv[3], flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning",
            access_log=False, server_header=False, lifespan="off")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def bare_app(body: bytes, content_type: str, work: Path) -> Iterator[str]:
    (work / "body").write_bytes(body)
    port = free_port()
    log = (work / "bare.log").open("w+")
    proc = subprocess.Popen(
        [PY, "-c", BARE, str(work / "body"), content_type, str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = _started(proc, log)
        _wait_answers(url)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()


def _wait_answers(url: str) -> None:
    import httpx

    for _ in range(200):
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.05)


def load(url: str, headers: dict[str, str]) -> tuple[float, float, float]:
    """Requests/s, p50 and p99 latency (ms) of GET url with CONNECTIONS connections."""
    if shutil.which("wrk"):
        return _wrk(url, headers)
    return asyncio.run(_python_load(url, headers))


def _wrk(url: str, headers: dict[str, str]) -> tuple[float, float, float]:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{LOAD_SECONDS}s", "--latency", url]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"^\s+{p}%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors from {url}:\n{out}")
    return rps, percentile("50"), percentile("99")


async def _python_load(url: str, headers: dict[str, str]) -> tuple[float, float, float]:
    import httpx

    latencies: list[float] = []
    remaining = PY_REQUESTS
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"GET {url}: {response.status_code}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return (
        len(latencies) / elapsed,
        latencies[len(latencies) // 2],
        latencies[int(len(latencies) * 0.99)],
    )


def get_one(repeat: int, work: Path) -> None:
    """GET /v1/assets/ID of a public asset under load, against the bare app with its bytes."""
    import httpx

    store = f"sqlite:///{work / 'get.db'}"
    fresh_store(store, 10, ACCOUNT)
    config = work / "small.yaml"
    write_config(config, 10)
    secret = token(store)
    served: list[float] = []
    bare: list[float] = []
    with serving(store, work) as url:
        timed(gs("apply", "--auto-approve", "-f", str(config)), work, client_env(url, secret))
        target = f"{url}/v1/assets/asset-00000"
        headers = {"Authorization": f"Bearer {secret}"}
        first = httpx.get(target, headers=headers, timeout=10)
        first.raise_for_status()
        content_type = first.headers["content-type"]
        with bare_app(first.content, content_type, work) as bare_url:
            for _ in range(repeat):
                s = load(target, headers)
                b = load(bare_url, headers)
                served.append(s[0])
                bare.append(b[0])
                print(
                    f"  round: serve {s[0]:.0f} req/s (p50 {s[1]:.2f} ms, p99 {s[2]:.2f} ms); "
                    f"bare ASGI {b[0]:.0f} req/s (p50 {b[1]:.2f} ms, p99 {b[2]:.2f} ms)",
                    flush=True,
                )
    r = ratio(served, bare)
    tool = "wrk" if shutil.which("wrk") else "python asyncio client"
    print(
        f"GET one asset, {CONNECTIONS} connections ({tool}): serve "
        f"{statistics.median(served):.0f} req/s, bare ASGI {statistics.median(bare):.0f} req/s "
        f"-> {r:.2f}x (target ≥ 0.5x) {'ok' if r >= 0.5 else 'MISSED'}",
        flush=True,
    )


PARTS = ["plan-apply", "get", "pg-writes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only this part (may be repeated)"
    )
    args = parser.parse_args()
    parts = args.only or PARTS
    print(f"served gallery, {args.assets} assets x 5 versions, {args.repeat} rounds", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "plan-apply" in parts:
            plan_and_apply(args.assets, args.repeat, work)
        if "get" in parts:
            get_one(args.repeat, work)
        if args.pg and "pg-writes" in parts:
            pg_writes(args.assets, args.repeat, args.pg, work)


if __name__ == "__main__":
    main()
