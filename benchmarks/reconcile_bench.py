"""Benchmark the idle reconcile loop (issue 14): a 10,000-asset gallery in step with its git
branch, no new commit, no drift. A round must cost <= 1.2x one plan (fetch, open the gallery,
plan; the config is parsed once per commit, not per round), and memory must stay flat over
100 rounds (first and last RSS printed).

    python benchmarks/reconcile_bench.py [--assets 10000] [--rounds 100]
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import fresh_gallery  # noqa: E402
from generate import write_config  # noqa: E402

from gallery_sync.engine import make_plan  # noqa: E402
from gallery_sync.gallery import Principal, open_gallery  # noqa: E402
from gallery_sync.reconcile import JsonLog, Outcome, Reconciler, Redactor, Settings  # noqa: E402

TARGET = 1.2


def rss_mib() -> float:
    """Resident memory now (not the peak): /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / (1 << 20)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    gc.enable()  # as the reconcile command runs: a long-lived process
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = root / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        write_config(repo / "gallery.yaml", args.assets)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "all assets")
        db = root / "gallery.db"
        fresh_gallery(db, args.assets)
        url = f"sqlite:///{db}"
        settings = Settings(repo=str(repo), gallery=url, interval=1.0, cache=root / "cache")
        log = JsonLog(io.StringIO(), Redactor())
        reconciler = Reconciler(settings, log=log)
        started = time.perf_counter()
        first = reconciler.reconcile_once()
        assert first.outcome is Outcome.APPLIED, first
        print(
            f"reconcile: first round applied {args.assets} assets in "
            f"{time.perf_counter() - started:.1f} s"
        )
        log.stream = io.StringIO()  # what the idle rounds log (they should log nothing)
        desired = reconciler._load(first.commit or "").desired
        assert desired is not None

        def one_plan() -> float:
            start = time.perf_counter()
            gallery = open_gallery(url, principal=Principal.embedded(desired.publisher))
            plan = make_plan(desired, gallery)
            gallery.close()
            assert not plan.has_changes
            return time.perf_counter() - start

        rounds: list[float] = []
        plans: list[float] = []
        first_rss = last_rss = 0.0
        for i in range(args.rounds):
            if i % 5 == 0:
                plans.append(one_plan())
            result = reconciler.reconcile_once()
            assert result.outcome is Outcome.SYNCED, result
            rounds.append(result.seconds)
            if i == 0:
                first_rss = rss_mib()
            last_rss = rss_mib()
        reconciler.close()
        logged = log.stream.getvalue().count("\n")
        ratio = statistics.median(rounds) / statistics.median(plans)
        print(
            f"reconcile idle round ({args.assets} assets): median {statistics.median(rounds):.3f} s"
            f" vs one plan {statistics.median(plans):.3f} s: {ratio:.2f}x (target <= {TARGET}x)"
            f" {'ok' if ratio <= TARGET else 'OVER'}"
        )
        print(
            f"reconcile idle memory over {args.rounds} rounds: first {first_rss:.1f} MiB, "
            f"last {last_rss:.1f} MiB ({last_rss - first_rss:+.1f} MiB); "
            f"log lines written by idle rounds: {logged}"
        )
        if ratio > TARGET or last_rss - first_rss > 16 or logged:
            sys.exit(1)


if __name__ == "__main__":
    main()
