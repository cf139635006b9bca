"""GET /v1/assets/{id} from the caches of server.fastpath, through real `serve` processes: a
write, a revocation or a visibility change committed elsewhere is seen by the next request;
answers, gzip and metrics as the route's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from test_serve import api, create, problem, publisher, revoke

from helpers import cli_env
from served import Served, served_fixture, served_pg_fixture  # noqa: F401

IDENTITY = {"Accept-Encoding": "identity"}


def get(served: Served, asset_id: str, token: str | None = None, **kw: Any) -> Any:
    return api(served, "GET", f"/v1/assets/{asset_id}", token, **kw)


def warm(served: Served, asset_id: str, token: str | None = None) -> dict[str, Any]:
    """The asset as GET answers it, asked twice: the second answer comes from the caches."""
    first, second = get(served, asset_id, token), get(served, asset_id, token)
    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()
    body: dict[str, Any] = second.json()
    return body


def patch(served: Served, token: str, asset_id: str, op: dict[str, Any], revision: int) -> None:
    """One operation on the asset at `revision`, through the API."""
    update = {"operations": [op]}
    headers = {"If-Match": f'"{revision}"'}
    changed = api(served, "PATCH", f"/v1/assets/{asset_id}", token, json=update, headers=headers)
    assert changed.status_code == 200, changed.text


def test_a_write_by_another_connection_is_seen_by_the_next_get(served: Served) -> None:
    from gallery_sync.gallery import Principal, Role, WriteRequest, open_store
    from gallery_sync.gallery.service import GalleryService
    from gallery_sync.model import Operation, OpKind

    acme = publisher(served, "acme")
    create(served, acme, "flowers", "public")
    assert warm(served, "flowers")["title"] == "T"
    # Written straight into the SQLite file, as another process would.
    store = open_store(served.store_url)
    try:
        op = Operation(OpKind.UPDATE_FIELDS, value={"title": "Elsewhere"})
        service = GalleryService(store, Principal("acme", Role.PUBLISHER))
        assert service.write_asset(WriteRequest("flowers", 1, (op,))) == 2
    finally:
        store.close()
    shown = get(served, "flowers")
    assert (shown.json()["title"], shown.headers["ETag"]) == ("Elsewhere", '"2"')


def test_a_token_revoked_by_the_admin_cli_is_refused_by_the_next_get(served: Served) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "mine", "only_me")
    warm(served, "mine", acme)
    from gallery_sync.gallery import open_store
    from gallery_sync.gallery.accounts import token_hash

    store: Any = open_store(served.store_url)
    try:
        found = store.token(token_hash(acme))
    finally:
        store.close()
    command = [sys.executable, "-m", "gallery_sync", "admin", "token", "revoke", str(found.id)]
    subprocess.run(
        [*command, "--store", served.store_url], check=True, env=cli_env(), capture_output=True
    )
    refused = get(served, "mine", acme)
    problem(refused, 401, "unauthenticated")
    assert refused.headers["WWW-Authenticate"] == "Bearer"


def test_a_visibility_change_is_seen_by_every_caller_at_once(served: Served) -> None:
    acme, bob = publisher(served, "acme"), publisher(served, "bob")
    create(served, acme, "team", "only_me")
    for _ in range(2):  # the second from the caches
        problem(get(served, "team", bob), 404, "not-found")
        problem(get(served, "team"), 404, "not-found")
    widen(served, acme, "team", {"specific_users": ["bob"]}, 1)
    assert get(served, "team", bob).json()["revision"] == 2
    problem(get(served, "team"), 404, "not-found")
    widen(served, acme, "team", "public", 2)
    assert get(served, "team").json()["revision"] == 3


def widen(served: Served, token: str, asset_id: str, visibility: Any, revision: int) -> None:
    patch(served, token, asset_id, {"kind": "set-visibility", "value": visibility}, revision)


def test_answers_as_the_route_gives_them_gzip_only_when_worth_it(served: Served) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "small", "public")
    create(served, acme, "large", "public", description="A long description. " * 200)
    small = warm(served, "small")
    assert small == {**small, "id": "small", "publisher": "acme", "revision": 1}
    for asked in ({"Accept-Encoding": "gzip"}, IDENTITY):
        answer = get(served, "small", headers=asked)
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["ETag"] == '"1"'
        assert "content-encoding" not in answer.headers and "vary" not in answer.headers
    plain = get(served, "large", headers=IDENTITY)
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert int(plain.headers["content-length"]) == len(plain.content)
    for _ in range(2):  # compressed once, then from the cache
        raw = httpx.get(
            f"{served.url}/v1/assets/large", headers={"Accept-Encoding": "gzip"}, timeout=30
        )
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.headers["vary"] == "Accept-Encoding"
        assert raw.headers["ETag"] == '"1"'
        assert int(raw.headers["content-length"]) < len(plain.content)
        assert raw.json() == plain.json()  # httpx decodes it
    # A malformed Authorization header is the route's 401, as before.
    malformed = get(served, "small", headers={"Authorization": "Basic abc"})
    problem(malformed, 401, "unauthenticated")


def test_answers_from_the_caches_are_counted_in_the_metrics(served: Served) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "flowers", "public")
    for _ in range(3):
        assert get(served, "flowers").status_code == 200
    problem(get(served, "nowhere"), 404, "not-found")
    text = api(served, "GET", "/metrics").text
    counted = {
        line.split("{", 1)[1].rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gallery_requests_total{") and "/v1/assets/{asset_id}" in line
    }
    route = 'method="GET",route="/v1/assets/{asset_id}"'
    assert counted[f'{route},status="200"}}'] == 3.0
    assert counted[f'{route},status="404"}}'] == 1.0


def test_two_servers_on_postgresql_see_each_others_writes_and_revocations(
    tmp_path: Path, pg_url: str
) -> None:
    one, two = Served(pg_url, tmp_path), Served(pg_url, tmp_path)
    try:
        acme = publisher(one, "acme")
        create(one, acme, "flowers", "only_me")
        assert warm(one, "flowers", acme)["title"] == "T"
        patch(two, acme, "flowers", {"kind": "update-fields", "value": {"title": "From two"}}, 1)
        shown = get(one, "flowers", acme)
        assert (shown.json()["title"], shown.headers["ETag"]) == ("From two", '"2"')
        warm(one, "flowers", acme)
        revoke(two, acme)
        problem(get(one, "flowers", acme), 401, "unauthenticated")
    finally:
        one.stop()
        two.stop()


def test_a_discontinued_asset_is_still_decided_by_the_subscribers_term(served: Served) -> None:
    acme, bob = publisher(served, "acme"), publisher(served, "bob")
    create(served, acme, "flowers", "public")
    assert api(served, "POST", "/v1/assets/flowers/subscriptions", bob).status_code == 201
    patch(served, acme, "flowers", {"kind": "discontinue"}, 1)
    assert json.loads(get(served, "flowers", bob).text)["revision"] == 2
    assert get(served, "flowers", bob).status_code == 200  # a running term: still seen
    problem(get(served, "flowers"), 404, "not-found")
