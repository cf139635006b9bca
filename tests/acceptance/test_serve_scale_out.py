"""Two `serve` processes on one PostgreSQL database, two clients applying at once: no lost
update, no duplicate asset, the audit log complete."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import WriteRequest
from gallery_sync.gallery.http import HttpGallery
from gallery_sync.model import Application, Operation, OpKind
from served import Served

AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}
ASSETS = 60


def create(asset_id: str) -> WriteRequest:
    body = {"title": "T", "visibility": "public", "versions": {"1.0.0": V1}}
    return WriteRequest(asset_id, None, (Operation(OpKind.CREATE, value=body),), AGREED)


def retitle(asset_id: str, title: str) -> WriteRequest:
    op = Operation(OpKind.UPDATE_FIELDS, value={"title": title})
    return WriteRequest(asset_id, 1, (op,), AGREED)


def test_two_servers_two_clients_no_lost_update_no_duplicate(tmp_path: Path, pg_url: str) -> None:
    one, two = Served(pg_url, tmp_path), Served(pg_url, tmp_path)
    try:
        token = one.token("acme")
        clients = [HttpGallery(one.url, token=token), HttpGallery(two.url, token=token)]
        clients[0].add_application(Application("app", "cn-north-4"))
        ids = [f"asset-{n:03}" for n in range(ASSETS)]

        def apply(client: HttpGallery, requests: list[WriteRequest]) -> list[object]:
            return [o for batch in client.write_assets(requests) for o in batch]

        # Both create the same assets at once: each asset is created exactly once.
        with ThreadPoolExecutor(2) as pool:
            first = list(pool.map(apply, clients, [[create(i) for i in ids]] * 2))
        created = [sum(1 for outcomes in first if outcomes[n] == 1) for n in range(ASSETS)]
        assert created == [1] * ASSETS
        losers = [o for outcomes in first for o in outcomes if isinstance(o, GalleryRefusal)]
        assert len(losers) == ASSETS and {o.code for o in losers} == {"conflict"}
        # Both update every asset from revision 1: exactly one update per asset lands.
        with ThreadPoolExecutor(2) as pool:
            second = list(
                pool.map(apply, clients, [[retitle(i, f"by {n}") for i in ids] for n in (0, 1)])
            )
        state = clients[1].read_state().assets
        assert sorted(state) == ids
        for n, asset_id in enumerate(ids):
            winners = [c for c in (0, 1) if second[c][n] == 2]
            assert len(winners) == 1, asset_id
            assert state[asset_id].title == f"by {winners[0]}" and state[asset_id].revision == 2
        audit = clients[0].history()
        assert len(audit) == 2 * ASSETS
        assert sorted(e.asset for e in audit) == sorted(ids * 2)
        for client in clients:
            client.close()
    finally:
        one.stop()
        two.stop()
