"""The served gallery through a real `serve` process: the API's security, errors and limits,
and every command with `--gallery http://...`."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gallery_sync.errors import GallerySyncError
from gallery_sync.gallery import http
from helpers import APPS, FLOWERS, Workspace, config, copy_example
from served import Served, env_with, served_fixture, served_pg_fixture  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + b"s" * 32
COVER = hashlib.sha256(PNG).hexdigest()
AGREED = ["ai-gallery-service", "digital-content-publishing"]
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api(served: Served, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    headers = {**(bearer(token) if token else {}), **kw.pop("headers", {})}
    return httpx.request(method, served.url + path, headers=headers, timeout=30, **kw)


def publisher(served: Served, account: str) -> str:
    token = served.token(account)
    for name in ("app", "app2"):
        body = {"name": name, "region": "cn-north-4"}
        assert api(served, "POST", "/v1/applications", token, json=body).status_code in (200, 201)
    return token


def create(
    served: Served, token: str, asset_id: str, visibility: Any = "only_me", **more: Any
) -> Any:
    body = {"title": "T", "visibility": visibility, "versions": {"1.0.0": V1}, **more}
    write = {
        "asset": asset_id,
        "expected_revision": None,
        "operations": [{"kind": "create", "value": body}],
        "accepted_agreements": AGREED,
    }
    if "cover" in more:
        write["covers"] = {COVER: base64.b64encode(PNG).decode()}
    response = api(served, "POST", "/v1/writes", token, json={"writes": [write]})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result.get("revision") == 1, result
    return result


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


# --- authentication ----------------------------------------------------------------------


def test_writes_without_a_token_or_with_a_bad_or_revoked_one_are_401(served: Served) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "flowers", "public")
    update = {"operations": [{"kind": "update-fields", "value": {"title": "Hacked"}}]}
    headers = {"If-Match": '"1"'}
    no_token = api(served, "PATCH", "/v1/assets/flowers", json=update, headers=headers)
    assert "needs a token" in problem(no_token, 401, "unauthenticated")["detail"]
    bad = api(served, "PATCH", "/v1/assets/flowers", "gs_wrong", json=update, headers=headers)
    problem(bad, 401, "unauthenticated")
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    problem(api(served, "GET", "/v1/me", "gs_wrong"), 401, "unauthenticated")
    problem(api(served, "GET", "/v1/assets/flowers", "gs_wrong"), 401, "unauthenticated")
    basic = api(served, "GET", "/v1/me", headers={"Authorization": "Basic eDp5"})
    problem(basic, 401, "unauthenticated")
    revoked = served.token("acme")
    assert api(served, "GET", "/v1/me", revoked).json() == {"account": "acme", "role": "publisher"}
    revoke(served, revoked)
    problem(
        api(served, "PATCH", "/v1/assets/flowers", revoked, json=update, headers=headers),
        401,
        "unauthenticated",
    )
    assert api(served, "GET", "/v1/assets/flowers").json()["title"] == "T"  # nothing written


def revoke(served: Served, token: str) -> None:
    from gallery_sync.gallery import open_store
    from gallery_sync.gallery.accounts import token_hash

    store: Any = open_store(served.store_url)
    try:
        [found] = [t for t in store.list_tokens() if store.token(token_hash(token)) == t]
        assert store.revoke_token(found.id)
    finally:
        store.close()


def test_another_publishers_asset_is_403_and_nothing_written(served: Served) -> None:
    acme, mallory = publisher(served, "acme"), publisher(served, "mallory")
    create(served, acme, "flowers", "public")
    update = {"operations": [{"kind": "update-fields", "value": {"title": "Mine"}}]}
    refused = api(
        served, "PATCH", "/v1/assets/flowers", mallory, json=update, headers={"If-Match": '"1"'}
    )
    assert problem(refused, 403, "asset-owned-by-other")["asset"] == "flowers"
    batch = {"writes": [{"asset": "flowers", "expected_revision": 1, **update}]}
    [result] = api(served, "POST", "/v1/writes", mallory, json=batch).json()["results"]
    assert result["problem"]["code"] == "asset-owned-by-other"
    shown = api(served, "GET", "/v1/assets/flowers").json()
    assert (shown["title"], shown["revision"], shown["publisher"]) == ("T", 1, "acme")
    assert [e["asset"] for e in api(served, "GET", "/v1/audit", mallory).json()["entries"]] == []


# --- visibility ------------------------------------------------------------------------------


def test_what_a_caller_may_not_see_is_404_exactly_as_a_missing_asset(served: Served) -> None:
    acme, bob, eve = (publisher(served, a) for a in ("acme", "bob", "eve"))
    create(served, acme, "mine", "only_me")
    create(served, acme, "team", {"specific_users": ["bob"]}, cover=COVER)
    create(served, acme, "open", "public")
    missing = api(served, "GET", "/v1/assets/nowhere", eve)
    expected = problem(missing, 404, "not-found")
    for asset_id, token in [("mine", bob), ("mine", None), ("team", eve), ("team", None)]:
        hidden = api(served, "GET", f"/v1/assets/{asset_id}", token)
        body = problem(hidden, 404, "not-found")
        assert body == {**expected, "detail": expected["detail"].replace("nowhere", asset_id)}
        assert "acme" not in hidden.text and "ETag" not in hidden.headers
    listed = api(served, "GET", "/v1/assets/team", bob)
    assert listed.status_code == 200 and listed.headers["ETag"] == '"1"'
    assert api(served, "GET", "/v1/assets/mine", acme).status_code == 200
    # Covers: only of an asset the caller may see, cacheable for ever.
    seen = api(served, "GET", f"/v1/covers/{COVER}", bob)
    assert seen.content == PNG and seen.headers["Cache-Control"].endswith("immutable")
    problem(api(served, "GET", f"/v1/covers/{COVER}", eve), 404, "not-found")
    problem(api(served, "GET", f"/v1/covers/{COVER}"), 404, "not-found")

    # Lists: each caller its own view, anonymous the public ones.
    def ids(token: str | None) -> list[str]:
        return [a["id"] for a in api(served, "GET", "/v1/assets", token).json()["assets"]]

    assert (ids(acme), ids(bob), ids(eve), ids(None)) == (
        ["mine", "open", "team"],
        ["open", "team"],
        ["open"],
        ["open"],
    )


def test_a_discontinued_asset_is_seen_by_its_owner_only(served: Served) -> None:
    acme, eve = publisher(served, "acme"), publisher(served, "eve")
    create(served, acme, "old", "public")
    gone = api(
        served,
        "PATCH",
        "/v1/assets/old",
        acme,
        headers={"If-Match": '"1"'},
        json={"operations": [{"kind": "discontinue"}]},
    )
    assert gone.status_code == 200 and gone.json() == {"revision": 2}
    assert gone.headers["ETag"] == '"2"'
    assert api(served, "GET", "/v1/assets/old", acme).json()["status"] == "discontinued"
    problem(api(served, "GET", "/v1/assets/old", eve), 404, "not-found")
    problem(api(served, "GET", "/v1/assets/old"), 404, "not-found")


def test_the_audit_log_shows_a_publisher_its_own_assets_only(served: Served) -> None:
    acme, other = publisher(served, "acme"), publisher(served, "other")
    create(served, acme, "flowers", "public")
    create(served, other, "tulips", "public")

    def audit(token: str, query: str = "") -> list[str]:
        body = api(served, "GET", f"/v1/audit{query}", token).json()
        return [e["asset"] for e in body["entries"]]

    assert (audit(acme), audit(other)) == (["flowers"], ["tulips"])
    assert audit(other, "?asset=flowers") == []
    assert api(served, "GET", "/v1/audit").json() == {"entries": [], "next": None}


# --- writes: revisions, idempotency, limits ------------------------------------------------


def test_if_match_decides_a_single_asset_write(served: Served) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "flowers", "public")
    update = {"operations": [{"kind": "update-fields", "value": {"title": "Two"}}]}
    stale = api(
        served, "PATCH", "/v1/assets/flowers", acme, json=update, headers={"If-Match": '"7"'}
    )
    assert "revision 1" in problem(stale, 409, "conflict")["detail"]
    problem(api(served, "PATCH", "/v1/assets/flowers", acme, json=update), 428, "request-invalid")
    done = api(
        served, "PATCH", "/v1/assets/flowers", acme, json=update, headers={"If-Match": '"1"'}
    )
    assert done.json() == {"revision": 2}
    whole = api(served, "GET", "/v1/assets/flowers", acme).json()
    whole["description"] = "Now described."
    put = api(
        served,
        "PUT",
        "/v1/assets/flowers",
        acme,
        json={"asset": whole},
        headers={"If-Match": '"2"'},
    )
    assert put.json() == {"revision": 3}, put.text
    assert api(served, "GET", "/v1/assets/flowers").json()["description"] == "Now described."
    narrowing = {**whole, "visibility": "only_me"}
    refused = api(
        served,
        "PUT",
        "/v1/assets/flowers",
        acme,
        json={"asset": narrowing},
        headers={"If-Match": '"3"'},
    )
    problem(refused, 422, "visibility-narrowing")


def test_a_retried_batch_with_its_idempotency_key_returns_its_first_result(served: Served) -> None:
    acme = publisher(served, "acme")
    write = {
        "asset": "flowers",
        "expected_revision": None,
        "operations": [{"kind": "create", "value": {"title": "T", "versions": {"1.0.0": V1}}}],
        "accepted_agreements": AGREED,
    }
    key = {"Idempotency-Key": "batch-1"}
    first = api(served, "POST", "/v1/writes", acme, json={"writes": [write]}, headers=key)
    again = api(served, "POST", "/v1/writes", acme, json={"writes": [write]}, headers=key)
    assert first.json() == again.json() == {"results": [{"asset": "flowers", "revision": 1}]}
    assert len(api(served, "GET", "/v1/audit", acme).json()["entries"]) == 1
    fresh = api(
        served,
        "POST",
        "/v1/writes",
        acme,
        json={"writes": [write]},
        headers={"Idempotency-Key": "batch-2"},
    )
    assert fresh.json()["results"][0]["problem"]["code"] == "conflict"


def test_bodies_are_limited_and_validated_before_the_store_is_read(served: Served) -> None:
    acme = publisher(served, "acme")
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'", "region": "r"}'
    too_big = api(
        served,
        "POST",
        "/v1/applications",
        acme,
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert "1 MiB" in problem(too_big, 413, "request-invalid")["detail"]

    def chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b" " * 65536

    streamed = api(
        served,
        "POST",
        "/v1/applications",
        acme,
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    problem(streamed, 413, "request-invalid")
    malformed = api(served, "POST", "/v1/writes", acme, json={"writes": [{"asset": "Bad Id!"}]})
    assert "writes.0" in problem(malformed, 422, "request-invalid")["detail"]
    problem(
        api(
            served,
            "POST",
            "/v1/writes",
            acme,
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        ),
        422,
        "request-invalid",
    )
    problem(api(served, "DELETE", "/v1/assets"), 405, "request-invalid")
    problem(api(served, "GET", "/v1/nothing"), 404, "not-found")
    problem(api(served, "GET", "/v1/assets?limit=0"), 422, "request-invalid")
    problem(api(served, "GET", "/v1/assets?cursor=%%%"), 400, "request-invalid")


def test_pages_of_assets_follow_the_next_cursor(served: Served) -> None:
    acme = publisher(served, "acme")
    for n in range(5):
        create(served, acme, f"asset-{n}", "public" if n != 2 else "only_me")
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = api(served, "GET", f"/v1/assets{query}")
        body = response.json()
        seen += [a["id"] for a in body["assets"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            assert "Link" not in response.headers
            break
        assert response.headers["Link"].endswith('rel="next"')
    assert seen == ["asset-0", "asset-1", "asset-3", "asset-4"] and pages == 2


def test_state_for_plan_is_gzipped_and_names_owners_of_others_ids(served: Served) -> None:
    acme, other = publisher(served, "acme"), publisher(served, "other")
    for n in range(30):
        create(served, acme, f"asset-{n:02}", "only_me")
    create(served, other, "theirs", "only_me")
    response = api(
        served,
        "GET",
        "/v1/state?ids=theirs,asset-00,nowhere",
        acme,
        headers={"Accept-Encoding": "gzip"},
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assets = response.json()["assets"]
    assert len(assets) == 31 and assets["theirs"]["publisher"] == "other"
    assert assets["theirs"]["title"] == "" and assets["theirs"]["versions"] == {}


def test_state_with_known_digests_answers_own_unchanged_assets_by_revision(
    served: Served,
) -> None:
    acme, other = publisher(served, "acme"), publisher(served, "other")
    for name in ("flowers", "tulips"):
        create(served, acme, name)
    create(served, other, "theirs")
    held = {**api(served, "GET", "/v1/state", acme).json()["assets"]}
    held.update(api(served, "GET", "/v1/state", other).json()["assets"])
    digest = {i: http._asset(a).state_digest() for i, a in held.items()}
    known = {"flowers": digest["flowers"], "tulips": "0" * 32, "theirs": digest["theirs"]}
    ids = ["flowers", "tulips", "theirs"]
    response = api(served, "POST", "/v1/state", acme, json={"ids": ids, "known": known})
    body = response.json()
    assert body["unchanged"] == {"flowers": 1}  # another's, in its state, is still a stub
    assert sorted(body["assets"]) == ["theirs", "tulips"]
    assert body["assets"]["theirs"]["title"] == ""
    # A config's worth of ids and digests is more than other routes' 1 MiB of body.
    many = {f"asset-{n:06}": "0" * 32 for n in range(30_000)}
    large = api(served, "POST", "/v1/state", acme, json={"ids": list(many), "known": many})
    assert len(large.request.content) > 2**20 and large.status_code == 200
    assert large.json()["unchanged"] == {} and sorted(large.json()["assets"]) == ids[:2]
    for hostile in ({"flowers": "0" * 65}, {"x" * 201: "0"}, ["flowers"]):
        refused = api(served, "POST", "/v1/state", acme, json={"ids": ids, "known": hostile})
        assert refused.status_code == 422 and refused.json()["code"] == "request-invalid"


def test_the_client_refuses_an_unchanged_asset_it_did_not_ask_about(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "flowers")
    gallery = http.HttpGallery(served.url, token=acme)
    try:
        wanted = gallery.read_state().assets
        assert gallery.read_state(["flowers"], same_as=wanted).assets == wanted
        answer = gallery._ok

        def lying(response: Any) -> Any:
            body = answer(response)
            if "unchanged" in body:
                body["unchanged"]["nowhere"] = 1
            return body

        monkeypatch.setattr(gallery, "_ok", lying)
        with pytest.raises(GallerySyncError, match="not asked about"):
            gallery.read_state(["flowers"], same_as=wanted)
    finally:
        gallery.close()


def test_healthz_metrics_and_openapi(served: Served) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "flowers")
    assert api(served, "GET", "/healthz").json() == {"status": "ok"}
    api(served, "GET", "/v1/assets/nowhere")
    text = api(served, "GET", "/metrics").text
    assert (
        'gallery_requests_total{method="GET",route="/v1/assets/{asset_id}",status="404"} 1.0'
        in text
    )
    assert 'gallery_writes_total{outcome="applied"} 1.0' in text
    assert "gallery_request_seconds_bucket" in text
    spec = api(served, "GET", "/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"/v1/writes", "/v1/state", "/v1/assets/{asset_id}", "/v1/me"} <= set(spec["paths"])


def test_a_token_never_appears_in_the_servers_output(served: Served) -> None:
    acme = publisher(served, "acme")
    create(served, acme, "flowers")
    api(served, "GET", "/v1/assets/flowers", acme)
    api(served, "GET", "/v1/me", "gs_not_a_real_token")
    api(
        served,
        "POST",
        "/v1/writes",
        acme,
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    code, output = served.stop()
    assert code == 0  # SIGTERM: a clean stop
    assert acme not in output and "gs_not_a_real_token" not in output
    assert "Traceback" not in output


# --- serve itself ----------------------------------------------------------------------------


def test_serve_refuses_a_store_it_cannot_open_in_one_line(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("not.db", "this is not a database, it is text" * 100)
    refused = ws.run("serve", "--store", f"sqlite:///{tmp_path / 'not.db'}")
    assert refused.code == 1
    [line] = refused.err.splitlines()
    assert line.startswith("error: cannot open the gallery at ")
    bad = ws.run("serve", "--store", "mysql://x/y")
    assert bad.code == 1 and bad.err.startswith("error: unknown store URL")


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path, served: Served) -> None:
    port = served.url.rsplit(":", 1)[1]
    taken = Workspace(tmp_path).run("serve", "--store", served.store_url, "--port", port)
    assert taken.code == 1
    assert taken.err.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (gallery-unavailable)"
    ]


# --- the CLI against a served gallery ---------------------------------------------------------


def register(ws: Workspace, env: dict[str, str]) -> None:
    for name, region, image in APPS:
        args = ["apps", "add", name, "--region", region, *(["--image", image] if image else [])]
        result = ws.run(*args, env=env)
        assert result.code == 0, result.err


def workflow(ws: Workspace, served: Served) -> None:
    """The acceptance flow, as on the embedded gallery: validate, plan, apply, plan again (no
    changes), show, history, import."""
    env = env_with(served.token("acme-ml"), served.url)
    register(ws, env)
    copy_example(ws)
    assert ws.run("validate").code == 0
    first = ws.run("plan", "--detailed-exitcode", env=env)
    assert first.code == 2, first.out + first.err
    assert "Plan: 3 to create, 0 to update" in first.out
    applied = ws.run("apply", "--auto-approve", "-m", "served publish", env=env)
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 3 applied, 0 failed, 0 not tried" in applied.out
    again = ws.run("plan", "--detailed-exitcode", env=env)
    assert again.code == 0 and "No changes." in again.out, again.out + again.err
    shown = ws.run("show", "--format", "json", env=env).json()
    assert sorted(shown) == ["flower-classifier", "invoice-ocr", "support-chat-summarizer"]
    history = ws.run("history", env=env).out.splitlines()
    assert len(history) == 3 and all("served publish" in line for line in history)
    (ws.root / "imported").mkdir()
    imported = ws.run("import", "-o", "imported/gallery.yaml", env=env)
    assert imported.code == 0, imported.err
    listed = ws.run("apps", "list", env=env).out
    assert "cn-north-4\tflowers-resnet50\n" in listed


def test_the_acceptance_flow_against_serve_on_sqlite(tmp_path: Path, served: Served) -> None:
    workflow(Workspace(tmp_path), served)


def test_the_acceptance_flow_against_serve_on_postgresql(tmp_path: Path, served_pg: Served) -> None:
    workflow(Workspace(tmp_path), served_pg)


def test_apply_from_a_saved_plan_and_publisher_mismatch(tmp_path: Path, served: Served) -> None:
    ws = Workspace(tmp_path)
    env = env_with(served.token("acme-ml"), served.url)
    register(ws, env)
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    assert ws.run("plan", "--out", "p.json", env=env).code == 0
    applied = ws.run("apply", "p.json", env=env)
    assert applied.code == 0, applied.out + applied.err
    other = env_with(served.token("someone-else"), served.url)
    mismatch = ws.run("plan", "--format", "json", env=other)
    assert mismatch.code == 1
    assert "publisher-mismatch" in [d["code"] for d in mismatch.json()["diagnostics"]]


def test_a_write_without_gallery_token_says_to_set_it(tmp_path: Path, served: Served) -> None:
    ws = Workspace(tmp_path)
    result = ws.run("apps", "add", "x", "--region", "cn-north-4", env={"GALLERY_URL": served.url})
    assert result.code == 1
    [line] = result.err.splitlines()
    assert "set GALLERY_TOKEN" in line


def test_registries_are_the_operators_on_a_served_gallery(tmp_path: Path, served: Served) -> None:
    ws = Workspace(tmp_path)
    env = env_with(served.token("acme-ml"), served.url)
    result = ws.run("apps", "registries", "swr.*.com", env=env)
    assert result.code == 1
    assert "gallery-sync admin registries" in result.err and "--store" in result.err
    listed = ws.run("apps", "registries", env=env)
    assert listed.code == 0 and listed.out.strip()


def test_a_service_that_is_down_is_one_line(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    for args in (["plan"], ["show"], ["history"], ["apps", "list"]):
        result = ws.run(*args, "--gallery", "http://127.0.0.1:9", env={"GALLERY_TOKEN": "t"})
        assert result.code == 1, args
        assert result.err.splitlines() == [
            "error: cannot reach http://127.0.0.1:9: connection refused (gallery-unavailable)"
        ], args


def test_the_cli_never_prints_the_token(tmp_path: Path, served: Served) -> None:
    ws = Workspace(tmp_path)
    token = served.token("acme-ml")
    env = env_with(token, served.url)
    register(ws, env)
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public")))
    outputs = [
        ws.run(*args, env=env)
        for args in (
            ["plan", "--format", "json"],
            ["apply", "--auto-approve"],
            ["show"],
            ["history"],
        )
    ]
    assert all(token not in r.out + r.err for r in outputs)
    assert json.loads(outputs[0].out)["gallery"] == served.url
