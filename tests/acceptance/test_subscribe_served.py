"""Subscribing through a real `serve` (POST /v1/assets/{id}/subscriptions), as a consumer: the
term, what may not be subscribed to, the owner's count, and a discontinued asset read within
and after a subscriber's term."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

from test_serve import api, create, problem, publisher

from served import Served, served_fixture  # noqa: F401

ONE_DAY = {"days": 1, "auto_renew": False}


def discontinue(served: Served, token: str, asset_id: str, revision: int) -> None:
    gone = api(
        served,
        "PATCH",
        f"/v1/assets/{asset_id}",
        token,
        headers={"If-Match": f'"{revision}"'},
        json={"operations": [{"kind": "discontinue"}]},
    )
    assert gone.status_code == 200, gone.text


def parsed(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def test_a_consumer_subscribes_and_reads_a_discontinued_asset_until_its_term_ends(
    served: Served,
) -> None:
    acme = publisher(served, "acme")
    bob, eve = served.token("bob"), served.token("eve")
    create(served, acme, "flowers", "public", duration_limit=ONE_DAY)
    create(served, acme, "old", "public")
    discontinue(served, acme, "old", 1)

    subscribed = api(served, "POST", "/v1/assets/flowers/subscriptions", bob)
    assert subscribed.status_code == 201, subscribed.text
    term = subscribed.json()
    assert (term["asset"], term["account"], term["auto_renew"]) == ("flowers", "bob", False)
    assert parsed(term["ends_at"]) - parsed(term["started_at"]) == timedelta(days=1)

    # A discontinued asset the consumer cannot see, a missing one, and no token at all.
    missing = problem(api(served, "POST", "/v1/assets/old/subscriptions", bob), 404, "not-found")
    assert missing["detail"] == "asset 'old' does not exist, or you may not see it"
    problem(api(served, "POST", "/v1/assets/nothing/subscriptions", bob), 404, "not-found")
    problem(api(served, "POST", "/v1/assets/flowers/subscriptions"), 401, "unauthenticated")

    # The owner sees how many keep access and until when; nobody else may ask.
    owners = api(served, "GET", "/v1/assets/flowers/subscriptions", acme)
    assert owners.status_code == 200
    assert owners.json() == {"count": 1, "last_end": term["ends_at"]}
    problem(api(served, "GET", "/v1/assets/flowers/subscriptions", bob), 404, "not-found")

    discontinue(served, acme, "flowers", 1)
    within = api(served, "GET", "/v1/assets/flowers", bob)
    assert within.status_code == 200 and within.json()["status"] == "discontinued"
    problem(api(served, "GET", "/v1/assets/flowers", eve), 404, "not-found")  # no term
    problem(api(served, "POST", "/v1/assets/flowers/subscriptions", eve), 404, "not-found")

    # The term ends (the store's clock is not the test's: its end is moved into the past).
    path = served.store_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        moved = db.execute(
            "UPDATE subscriptions SET ends_at = '2000-01-01T00:00:00Z' "
            "WHERE asset = 'flowers' AND account = 'bob'"
        )
        assert moved.rowcount == 1
    db.close()
    after = api(served, "GET", "/v1/assets/flowers", bob)
    absent = api(served, "GET", "/v1/assets/flowers-never-made", bob)
    body, missing_body = problem(after, 404, "not-found"), problem(absent, 404, "not-found")
    assert json.dumps(body).replace("flowers", "X") == json.dumps(missing_body).replace(
        "flowers-never-made", "X"
    )  # exactly a missing asset's answer, but for its id
    assert body["detail"] == "asset 'flowers' does not exist, or you may not see it"
    assert api(served, "GET", "/v1/assets/flowers/subscriptions", acme).json() == {
        "count": 0,
        "last_end": None,
    }
