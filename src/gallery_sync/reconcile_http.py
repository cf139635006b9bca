"""The reconcile loop's status over HTTP: /healthz, /metrics (Prometheus text), /status (JSON).

A stdlib `http.server` in a daemon thread: it only reads `ReconcileStatus`, never the gallery.
prometheus-client is imported when the server starts, not by the rest of the CLI.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import orjson

from gallery_sync.errors import UsageError

if TYPE_CHECKING:
    from gallery_sync.reconcile import ReconcileStatus

DEFAULT_ADDR = "127.0.0.1:9469"
PREFIX = "gallery_sync_reconcile"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def parse_addr(addr: str) -> tuple[str, int]:
    """HOST:PORT (port 0: any free port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--status-addr {addr!r}: expected HOST:PORT, e.g. {DEFAULT_ADDR}")
    return host.strip("[]") or "127.0.0.1", int(port)


class Metrics:
    """The Prometheus view of a ReconcileStatus, in a registry of its own."""

    def __init__(self, status: ReconcileStatus) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

        self.status = status
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.last_fetch = Gauge(
            f"{PREFIX}_last_fetch_timestamp_seconds",
            "When the branch was last fetched (successfully or not), Unix time.",
            registry=r,
        )
        self.last_applied = Info(
            f"{PREFIX}_last_applied", "The commit last applied in full.", registry=r
        )
        self.drifted = Gauge(
            f"{PREFIX}_drifted_assets", "Assets the gallery holds otherwise than git.", registry=r
        )
        self.unmanaged = Gauge(
            f"{PREFIX}_unmanaged_assets", "The publisher's assets no file declares.", registry=r
        )
        self.consecutive = Gauge(
            f"{PREFIX}_consecutive_failures", "Failed rounds since the last good one.", registry=r
        )
        self.applies = Counter(f"{PREFIX}_applies", "Commits applied in full.", registry=r)
        self.apply_failures = Counter(
            f"{PREFIX}_apply_failures",
            "Applies that failed for at least one asset.",
            registry=r,
        )
        self.failures = Counter(
            f"{PREFIX}_failures", "Failed rounds, by stage.", ["stage"], registry=r
        )
        self.rounds = Counter(f"{PREFIX}_rounds", "Rounds, by outcome.", ["outcome"], registry=r)
        self.duration = Histogram(
            f"{PREFIX}_round_duration_seconds",
            "How long a round took.",
            buckets=BUCKETS,
            registry=r,
        )
        self._seen: dict[str, Any] = {
            "applies": 0,
            "apply_failures": 0,
            "failures": {},
            "outcomes": {},
        }

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        s = self.status
        with s.lock:
            durations, s.durations = s.durations, []
            applies, apply_failures = s.applies, s.apply_failures
            failures, outcomes = dict(s.failures), dict(s.outcomes)
            last_fetch, last_applied = s.last_fetch_unix, s.last_applied
            drifted, unmanaged = s.drifted_assets, len(s.unmanaged_assets)
            consecutive = s.consecutive_failures
        # Counters move by what happened since the last scrape.
        seen = self._seen
        self.applies.inc(applies - seen["applies"])
        self.apply_failures.inc(apply_failures - seen["apply_failures"])
        for stage, count in failures.items():
            self.failures.labels(stage).inc(count - seen["failures"].get(stage, 0))
        for outcome, count in outcomes.items():
            self.rounds.labels(outcome).inc(count - seen["outcomes"].get(outcome, 0))
        self._seen = {
            "applies": applies,
            "apply_failures": apply_failures,
            "failures": failures,
            "outcomes": outcomes,
        }
        for seconds in durations:
            self.duration.observe(seconds)
        if last_fetch is not None:
            self.last_fetch.set(last_fetch)
        self.last_applied.info({"commit": last_applied or ""})
        self.drifted.set(drifted)
        self.unmanaged.set(unmanaged)
        self.consecutive.set(consecutive)
        return generate_latest(self.registry)


class StatusServer:
    """Serves a ReconcileStatus at HOST:PORT until closed."""

    def __init__(self, status: ReconcileStatus, addr: str) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST

        host, port = parse_addr(addr)
        metrics = Metrics(status)
        metrics_lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            server_version = "gallery-sync-reconcile"

            def do_GET(self) -> None:  # http.server's name
                path = self.path.partition("?")[0]
                if path == "/healthz":
                    self._send(200, b"ok\n", "text/plain; charset=utf-8")
                elif path == "/metrics":
                    with metrics_lock:
                        body = metrics.render()
                    self._send(200, body, CONTENT_TYPE_LATEST)
                elif path == "/status":
                    body = orjson.dumps(status.to_json(), option=orjson.OPT_INDENT_2) + b"\n"
                    self._send(200, body, "application/json")
                else:
                    self._send(404, b"not found: try /healthz, /metrics or /status\n", "text/plain")

            def _send(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # stderr carries the loop's JSON log lines only

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise UsageError(
                f"--status-addr {addr}: cannot listen there: {exc.strerror or exc}"
            ) from None
        self.server.daemon_threads = True
        self.addr = f"{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="reconcile-status", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fetch_status(addr: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """GET /status of a running loop (`gallery-sync reconcile status`)."""
    import urllib.error
    import urllib.request

    host, port = parse_addr(addr)
    url = f"http://{host}:{port}/status"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            data = orjson.loads(answer.read())
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(
            f"no reconcile loop answers at {addr}: {reason}; start one with "
            f"`gallery-sync reconcile --repo ... --status-addr {addr}`"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{url} did not answer with a status object")
    return data
