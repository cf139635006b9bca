"""`gallery-sync reconcile`: the process around the loop (signals, status server, exit code)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from pathlib import Path

from gallery_sync.errors import UsageError
from gallery_sync.reconcile import (
    DriftMode,
    JsonLog,
    Outcome,
    Reconciler,
    Redactor,
    Round,
    Settings,
    run_loop,
)


def _check_path(path: str) -> str:
    parts = Path(path).parts
    if not path.strip() or Path(path).is_absolute() or ".." in parts:
        raise UsageError(f"--path {path!r}: a file or directory inside the repository")
    return path


def run_reconcile(
    *,
    repo: str,
    branch: str,
    path: str,
    gallery: str | None,
    interval: float,
    drift: str,
    once: bool,
    status_addr: str,
    cache: str | None,
    max_backoff: float,
) -> int:
    """The loop until SIGTERM or SIGINT (0), or one round with --once (0 done, 1 not)."""
    if not interval > 0:
        raise UsageError(f"--interval {interval:g}: a positive number of seconds")
    # A long-running process: the cyclic collector (switched off for short commands in
    # cli.main) is needed, or every round's cycles stay.
    gc.enable()
    settings = Settings(
        repo=repo,
        branch=branch,
        path=_check_path(path),
        gallery=gallery,
        interval=interval,
        drift=DriftMode(drift),
        cache=Path(cache) if cache else None,
        max_backoff=max_backoff,
    )
    redact = Redactor(repo, gallery, secrets=(os.environ.get("GALLERY_TOKEN", ""),))
    log = JsonLog(sys.stderr, redact)
    reconciler = Reconciler(settings, log=log, redact=redact)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if not stop.is_set():
            log("info", "stopping", signal=signal.Signals(signum).name, commit=reconciler.tip)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = None
    try:
        if once:
            result = reconciler.reconcile_once(stop.is_set)
            _say(result, settings)
            return 0 if _done(result, settings) else 1
        if status_addr:
            from gallery_sync.reconcile_http import StatusServer

            server = StatusServer(reconciler.status, status_addr)
        log(
            "info",
            "started",
            repo=redact(repo),
            branch=branch,
            path=path,
            gallery=redact(gallery or "(embedded)"),
            interval=interval,
            drift=drift,
            status_addr=server.addr if server else None,
        )
        run_loop(reconciler, stop)
        log("info", "stopped", commit=reconciler.tip, last_applied=reconciler.applied)
        return 0
    finally:
        if server is not None:
            server.close()
        reconciler.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _done(result: Round, settings: Settings) -> bool:
    """--once succeeds as apply does: everything applied, or nothing to do (drift reported
    counts as nothing to do; drift left over after --drift revert does not)."""
    if result.outcome is Outcome.DRIFTED:
        return settings.drift is DriftMode.REPORT
    return result.outcome in (Outcome.SYNCED, Outcome.APPLIED, Outcome.REVERTED)


def _say(result: Round, settings: Settings) -> None:
    commit = result.commit[:12] if result.commit else "(no commit)"
    sys.stdout.write(f"{result.outcome.value}: {settings.branch} at {commit}\n")
    sys.stdout.flush()
