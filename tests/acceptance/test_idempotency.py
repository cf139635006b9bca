"""An Idempotency-Key is claimed and kept in the same store transaction as the writes it
answers for: the same batch sent twice at once writes once, and a request cut off between two
of its transactions, sent again, does the rest once and answers what was done as it was."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import Principal, Role, WriteRequest, open_store
from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import Application, Operation, OpKind
from served import Served

AGREED = ["ai-gallery-service", "digital-content-publishing"]
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}


def wire_write(asset_id: str) -> dict[str, Any]:
    return {
        "asset": asset_id,
        "expected_revision": None,
        "operations": [{"kind": "create", "value": {"title": "T", "versions": {"1.0.0": V1}}}],
        "accepted_agreements": AGREED,
    }


@pytest.fixture(name="two_serves")
def two_serves_fixture(pg_url: str, tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    first = Served(pg_url, tmp_path)
    second = Served(pg_url, tmp_path)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_one_batch_sent_twice_at_once_with_one_key_writes_once(
    two_serves: tuple[Served, Served],
) -> None:
    first, second = two_serves
    token = first.token("acme")
    auth = {"Authorization": f"Bearer {token}"}
    httpx.post(
        f"{first.url}/v1/applications",
        json={"name": "app", "region": "cn-north-4"},
        headers=auth,
        timeout=30,
    ).raise_for_status()
    body = {"writes": [wire_write(f"m{i:03d}") for i in range(300)]}
    headers = {**auth, "Idempotency-Key": "the-one-batch"}

    def send(served: Served) -> httpx.Response:
        return httpx.post(f"{served.url}/v1/writes", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(2) as pool:  # two processes on one database, at the same time
        answers = list(pool.map(send, [first, second]))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["results"] == [
        {"asset": f"m{i:03d}", "revision": 1} for i in range(300)
    ]
    audit = httpx.get(f"{first.url}/v1/audit?limit=1000", headers=auth, timeout=30).json()
    assert len(audit["entries"]) == 300  # each asset created once, by one of the two


def new_asset(asset_id: str, expected_revision: int | None = None) -> WriteRequest:
    body = {"title": "T", "versions": {"1.0.0": V1}}
    create = Operation(OpKind.CREATE, value=body)
    return WriteRequest(asset_id, expected_revision, (create,), frozenset(AGREED))


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_a_request_cut_off_between_its_transactions_does_the_rest_once(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'g.db'}"
        if store_kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = open_store(url, create=True)
    try:
        service = GalleryService(store, Principal("acme", Role.PUBLISHER))
        service.add_application(Application("app", "cn-north-4"))
        # 700 writes are two transactions (500 + 200); the 3rd is refused (it does not exist).
        requests = [new_asset(f"m{i:03d}", 4 if i == 3 else None) for i in range(700)]
        cut = service.write_assets(requests, idempotency_key="k")
        first = next(cut)
        assert len(first) == 500
        cut.close()  # the process dies before the second transaction
        assert len(store.assets()) == 499

        again = [o for batch in service.write_assets(requests, idempotency_key="k") for o in batch]
        assert len(again) == 700
        assert isinstance(again[3], GalleryRefusal) and again[3].code == "conflict"
        assert again[:3] == first[:3] and again[4:] == [1] * 696
        assert len(store.assets()) == 699
        assert len(store.history()) == 699  # nothing written twice

        replayed = [o for b in service.write_assets(requests, idempotency_key="k") for o in b]
        assert replayed[4:] == [1] * 696 and str(replayed[3]) == str(again[3])
        assert len(store.history()) == 699
        other = GalleryService(store, Principal("other", Role.PUBLISHER))
        [[theirs]] = list(other.write_assets([new_asset("m000")], idempotency_key="k"))
        assert isinstance(theirs, GalleryRefusal)  # a key is the account's own: not replayed
    finally:
        store.close()
