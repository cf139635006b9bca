"""`serve`'s connections: concurrent requests over SQLite (FastAPI runs a route's dependency
and the route on different worker threads, and a SQLite connection may not cross threads), and
keep-alive requests answered without the ~40 ms Nagle/delayed-ACK stall."""

from __future__ import annotations

import http.client
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from helpers import APPS, Workspace, copy_example
from served import Served, served_fixture  # noqa: F401


def test_32_concurrent_gets_of_one_asset_all_answer_200(ws: Workspace, served: Served) -> None:
    copy_example(ws)
    token = served.token("acme-ml")
    env = {"GALLERY_URL": served.url, "GALLERY_TOKEN": token}
    for name, region, image in APPS:
        args = ["apps", "add", name, "--region", region] + (["--image", image] if image else [])
        assert ws.run(*args, env=env).code == 0
    applied = ws.run("apply", "--auto-approve", "-f", "gallery.yaml", env=env)
    assert "flower-classifier: applied" in applied.out, applied.out + applied.err
    url = f"{served.url}/v1/assets/flower-classifier"
    limits = httpx.Limits(max_connections=32)
    with httpx.Client(limits=limits, timeout=30) as client:

        def get(_: int) -> int:
            return client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code

        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(get, range(640)))
    assert statuses == [200] * 640


def test_keep_alive_requests_are_not_held_by_nagle(served: Served) -> None:
    """Without TCP_NODELAY on the accepted socket, each response after the first on a
    connection waited for the client's delayed ACK: 40 ms or more, every time."""
    parts = urlsplit(served.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    took = []
    for _ in range(21):
        start = time.perf_counter()
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        took.append(time.perf_counter() - start)
        assert response.status == 200
    connection.close()
    assert statistics.median(took[1:]) < 0.02, took
