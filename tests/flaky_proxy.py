"""A real HTTP proxy in front of `serve`, in its own process, that fails on demand: the client's
retries are tested against real sockets, real status lines and real dropped connections.

Run as `python flaky_proxy.py UPSTREAM_URL`; it prints `proxy on http://127.0.0.1:PORT` and
forwards every request to UPSTREAM_URL, except that:
- `POST /_proxy/fail` with `{"method", "path", "times", "status", "retry_after"}` makes the
  next `times` requests of that method and path fail: with `status` (and `Retry-After:
  retry_after` when given); with `"status": "drop"`, by closing the connection unanswered;
  with `"status": "lose"`, by forwarding the request and closing the connection instead of
  answering (the write happened, its answer was lost);
- `GET /_proxy/log` answers every proxied request so far as `[method, path, idempotency key,
  start, end]` (monotonic seconds), and the most requests it had in flight at once.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"}
)


class State:
    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.lock = threading.Lock()
        self.failures: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.log: list[list[Any]] = []
        self.in_flight = 0
        self.most_in_flight = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        body = self._body()
        path = urllib.parse.urlsplit(self.path).path
        state = self.state
        if path == "/_proxy/fail":
            failure = json.loads(body)
            key = (failure["method"], failure["path"])
            with state.lock:
                state.failures.setdefault(key, []).extend([failure] * failure["times"])
            self._answer(204, b"")
            return
        if path == "/_proxy/log":
            with state.lock:
                text = json.dumps({"requests": state.log, "most_in_flight": state.most_in_flight})
            self._answer(200, text.encode(), {"Content-Type": "application/json"})
            return
        started = time.monotonic()
        with state.lock:
            entry = [self.command, path, self.headers.get("Idempotency-Key"), started, None]
            state.log.append(entry)
            queued = state.failures.get((self.command, path))
            failure = queued.pop(0) if queued else None
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            if failure is None:
                self._forward(body)
            elif failure["status"] in ("drop", "lose"):
                if failure["status"] == "lose":
                    self._forward(body, answer=False)
                self.close_connection = True  # the socket closes with no answer at all
            else:
                headers = {"Content-Type": "application/problem+json"}
                if failure.get("retry_after") is not None:
                    headers["Retry-After"] = str(failure["retry_after"])
                problem = {"type": "about:blank", "title": "injected", "status": failure["status"]}
                problem |= {"detail": "injected by the test proxy", "code": "gallery-unavailable"}
                self._answer(failure["status"], json.dumps(problem).encode(), headers)
        finally:
            with state.lock:
                state.in_flight -= 1
                entry[4] = time.monotonic()

    def _forward(self, body: bytes, *, answer: bool = True) -> None:
        upstream = self.state.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            if answer:
                self._answer(response.status, data, kept)
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main(upstream: str) -> None:
    Handler.state = State(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"proxy on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


class FlakyProxy:
    """The proxy as a subprocess in front of `upstream`, with the test's controls."""

    def __init__(self, upstream: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__)), upstream],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if " on http://" not in line:
            self.proc.kill()
            raise RuntimeError(f"the proxy did not start: {line!r}")
        self.url = line.rsplit(" on ", 1)[1].strip()

    def fail(
        self,
        method: str,
        path: str,
        times: int,
        status: int | str,
        retry_after: str | None = None,
    ) -> None:
        import httpx

        failure = {"method": method, "path": path, "times": times, "status": status}
        failure["retry_after"] = retry_after
        httpx.post(f"{self.url}/_proxy/fail", json=failure, timeout=10).raise_for_status()

    def requests(self, method: str, path: str) -> list[list[Any]]:
        return [r for r in self.log()["requests"] if r[0] == method and r[1] == path]

    def log(self) -> dict[str, Any]:
        import httpx

        answer: dict[str, Any] = httpx.get(f"{self.url}/_proxy/log", timeout=10).json()
        return answer

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


if __name__ == "__main__":
    main(sys.argv[1])
