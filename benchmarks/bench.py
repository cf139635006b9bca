"""Benchmark validate/plan/apply at gallery scale against floors and peers, in one run.

Prints medians, peak RSS and ratios to the floor (libyaml event parse; raw SQLite inserts;
`json.loads` memory; `import click` start-up) and to peers (check-jsonschema, a naive
safe_load + jsonschema + DeepDiff pipeline), with the targets of issue 6. Each figure and its
floor are measured back to back, round by round; a ratio is the median of the rounds' ratios.

    python benchmarks/bench.py [--assets 10000] [--repeat 3] [--only apply]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import write_config  # noqa: E402

PY = sys.executable
SCHEMA = HERE.parent / "schemas" / "gallery.schema.json"


def run(
    cmd: list[str], cwd: Path, *, output: bool = False
) -> tuple[float, int] | tuple[float, int, str]:
    """Wall time (s) and peak RSS (MiB) of one child process, which must exit 0 or 2; with
    output=True, its stdout too."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=out if output else subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code not in (0, 2):
            raise SystemExit(f"{' '.join(cmd)} exited {code}: {err.read().decode()[-2000:]}")
        rss = usage.ru_maxrss // 1024
        return (elapsed, rss, out.read().decode()) if output else (elapsed, rss)


def ratio(figures: list[float], floors: list[float]) -> float:
    """The median of per-round ratios: each round measures a figure and its floor back to
    back, so a slow spell of the machine cancels out instead of landing on one side."""
    return statistics.median(f / b for f, b in zip(figures, floors, strict=True))


def median_of(repeat: int, fn) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    results = [fn() for _ in range(repeat)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def gs(*args: str) -> list[str]:
    return [PY, "-m", "gallery_sync", *args]


def fresh_gallery(path: Path, n: int) -> None:
    """A gallery that knows every AI application the generated files name (no assets)."""
    if path.exists():
        path.unlink()
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "from generate import application\n"
        "from gallery_sync.gallery import open_gallery\n"
        "from gallery_sync.gallery.sqlstore import bump_catalog_version\n"
        f"g = open_gallery('sqlite:///{path}', create=True)\n"
        "with g.store.transaction() as tx:\n"
        "    tx.db.executemany(\"INSERT INTO applications VALUES ('', ?, ?, NULL)\",\n"
        f"        [application(i, v)[::-1] for i in range({n}) for v in range(6)])\n"
        "    bump_catalog_version(tx.db)\n"
    )
    subprocess.run([PY, "-c", code], check=True)


EVENT_PARSE = """
import sys, time, yaml
data = open(sys.argv[1], "rb").read()
start = time.perf_counter()
for _ in yaml.parse(data, Loader=yaml.CSafeLoader):
    pass
print(time.perf_counter() - start)
"""


def event_parse(path: Path) -> float:
    """The floor for reading YAML from Python: libyaml's C event parse, nothing built."""
    return float(child(EVENT_PARSE, str(path)))


FLOOR = """
import sqlite3, sys, time
source = sqlite3.connect(sys.argv[1])
rows = {t: source.execute(f"SELECT * FROM {t}").fetchall() for t in ("assets", "versions", "audit")}
source.close()
db = sqlite3.connect(sys.argv[2], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = NORMAL")
start = time.perf_counter()
db.execute("BEGIN IMMEDIATE")
for table, values in rows.items():
    marks = ", ".join("?" * len(values[0]))
    db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
db.execute("COMMIT")
print(time.perf_counter() - start)
"""


def sqlite_floor(applied: Path, work: Path) -> float:
    """Raw executemany of exactly the rows an apply wrote (assets, versions, audit), read back
    from its gallery, into a fresh one: one transaction, rows built before the clock starts."""
    fresh = work / "floor.db"
    fresh_gallery(fresh, 0)
    return float(child(FLOOR, str(applied), str(fresh)))


def child(code: str, *args: str) -> str:
    """Run Python code in a child process and return its output. Heavy work stays out of this
    process: a child's peak RSS (ru_maxrss) starts from its parent's size at fork."""
    return subprocess.run(
        [PY, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout


NAIVE = """
import sys, yaml, jsonschema, json, copy
from deepdiff import DeepDiff
doc = yaml.safe_load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
current = copy.deepcopy(doc)
DeepDiff(current, doc)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000, help="for growth and peer ratios")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", choices=["apply"], help="apply: only the apply figures (writes, whole command)"
    )
    args = parser.parse_args()
    n, small, repeat = args.assets, args.small, args.repeat
    work = Path(tempfile.mkdtemp(prefix="gallery-bench-"))
    rows: list[tuple[str, str, str, str]] = []  # figure, value, ratio, target
    # Children inherit this process's size in ru_maxrss: keep it small (see `child`).
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    def add(name: str, value: str, ratio: str = "", target: str = "") -> None:
        rows.append((name, value, ratio, target))
        print(f"  {name}: {value} {ratio} {target}", file=sys.stderr, flush=True)

    try:
        big, big1, tiny = work / "big.yaml", work / "big-1pct.yaml", work / "small.yaml"
        write_config(big, n)
        write_config(big1, n, changed=0.01)
        write_config(tiny, small)
        child(
            "import json, sys, yaml\n"
            "data = yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)\n"
            "json.dump(data, open(sys.argv[2], 'w'))\n",
            str(big),
            str(work / "big.json"),
        )
        size = big.stat().st_size
        with big.open("rb") as lines:
            count = sum(1 for _ in lines)
        print(
            f"{n} assets x 5 versions: {size / 1e6:.1f} MB, {count:,} lines; this process: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB peak (started at "
            f"{start_rss} MiB), a floor under every child's peak RSS",
            file=sys.stderr,
        )

        # Figures and their floors are measured in alternation, round by round, so that both
        # see the same moment of a shared, noisy machine.
        db = work / "apply.db"
        url = f"sqlite:///{db}"
        applied, writes, floor_rows, apply_floors, apply_rss = [], [], [], [], 0
        for _ in range(repeat):
            fresh_gallery(db, n)
            elapsed, rss, out = run(
                gs("apply", "-f", str(big), "--auto-approve", "--gallery", url), work, output=True
            )
            found = re.search(r"writes took ([0-9.]+) s", out)
            if not found:
                raise SystemExit(f"apply printed no write time: {out[-500:]}")
            applied.append(elapsed)
            writes.append(float(found.group(1)))
            apply_rss = max(apply_rss, rss)
            floor_rows.append(sqlite_floor(db, work))
            # The whole command's floor, in the same round: reading its YAML and writing its rows.
            apply_floors.append(event_parse(big) + floor_rows[-1])
        if args.only == "apply":
            add_apply(add, n, applied, apply_floors, apply_rss, writes, floor_rows)
            shutil.rmtree(work, ignore_errors=True)
            table(rows)
            return
        floors, plans0, plans1, plan_rss = [], [], [], 0
        for _ in range(repeat):
            floors.append(event_parse(big))
            elapsed, rss = run(gs("plan", "-f", str(big), "--gallery", url), work)
            plans0.append(elapsed)
            plan_rss = max(plan_rss, rss)
            plans1.append(run(gs("plan", "-f", str(big1), "--gallery", url), work)[0])
        floor, plan0, plan1 = map(statistics.median, (floors, plans0, plans1))
        add("libyaml event parse (floor)", f"{floor:.2f} s")

        validate, _ = median_of(repeat, lambda: run(gs("validate", "-f", str(big)), work))
        cj = shutil.which("check-jsonschema") or str(Path(PY).parent / "check-jsonschema")
        if Path(cj).exists():
            peer, _ = run([cj, "--schemafile", str(SCHEMA), str(big)], work)
            add(
                "validate",
                f"{validate:.2f} s",
                f"{peer / validate:.1f}x faster than check-jsonschema ({peer:.2f} s)",
                "target >= 5x",
            )
        else:
            add("validate", f"{validate:.2f} s", "check-jsonschema not installed", "")

        add_apply(add, n, applied, apply_floors, apply_rss, writes, floor_rows)
        add(
            "plan, no changes",
            f"{plan0:.2f} s",
            f"{ratio(plans0, floors):.1f}x event parse",
            "target <= 3x",
        )
        add(
            "plan, 1% changed",
            f"{plan1:.2f} s",
            f"{ratio(plans1, plans0):.2f}x no-change plan",
            "target <= 1.2x",
        )
        _, json_rss = run(
            [PY, "-c", f"import json; d = json.load(open({str(work / 'big.json')!r}))"], work
        )
        add(
            "plan peak memory",
            f"{plan_rss} MiB",
            f"{plan_rss / json_rss:.1f}x json.loads ({json_rss} MiB)",
            "target <= 2x",
        )

        small_db = work / "small.db"
        fresh_gallery(small_db, small)
        small_url = f"sqlite:///{small_db}"
        run(gs("apply", "-f", str(tiny), "--auto-approve", "--gallery", small_url), work)
        plan_small, _ = median_of(
            repeat, lambda: run(gs("plan", "-f", str(tiny), "--gallery", small_url), work)
        )
        add(
            f"plan growth {small} -> {n}",
            f"{plan_small:.2f} s -> {plan0:.2f} s",
            f"{plan0 / plan_small:.1f}x",
            f"target <= {n / small * 1.1:.0f}x",
        )
        naive, _ = median_of(1, lambda: run([PY, "-c", NAIVE, str(tiny), str(SCHEMA)], work))
        add(
            f"naive peer pipeline, {small} assets",
            f"{naive:.2f} s",
            f"{naive / plan_small:.1f}x our plan ({plan_small:.2f} s)",
            "",
        )

        helps, clicks = [], []
        for _ in range(repeat * 5):
            helps.append(run(gs("--help"), work)[0])
            clicks.append(run([PY, "-c", "import click"], work)[0])
        helped, click_only = statistics.median(helps), statistics.median(clicks)
        add(
            "gallery-sync --help",
            f"{helped * 1000:.0f} ms",
            f"{ratio(helps, clicks):.2f}x `import click` ({click_only * 1000:.0f} ms)",
            "target <= 1.5x",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table(rows)


def table(rows: list[tuple[str, str, str, str]]) -> None:
    print("\n| figure | median | ratio | target |\n| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def add_apply(  # type: ignore[no-untyped-def]
    add,
    n: int,
    applied: list[float],
    apply_floors: list[float],
    apply_rss: int,
    writes: list[float],
    floor_rows: list[float],
) -> None:
    write, raw = statistics.median(writes), statistics.median(floor_rows)
    add(
        f"apply {n} new assets: writes",
        f"{write:.2f} s",
        f"{ratio(writes, floor_rows):.1f}x raw inserts of its rows ({raw:.2f} s)",
        "target <= 3x",
    )
    add(
        f"apply {n} new assets: whole command",
        f"{statistics.median(applied):.2f} s, {apply_rss} MiB",
        f"{ratio(applied, apply_floors):.2f}x event parse + raw inserts "
        f"({statistics.median(apply_floors):.2f} s)",
        "target <= 3x",
    )


if __name__ == "__main__":
    main()
