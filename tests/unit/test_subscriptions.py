"""Subscriptions through the gallery service, at fixed times (an injected clock), on an SQLite
store and on PostgreSQL: who may subscribe, what a subscriber sees within and after its
term, and what a discontinue or a new duration limit does to running terms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import Principal, Role, Subscription, WriteRequest, open_store
from gallery_sync.gallery.service import GalleryService, Store
from gallery_sync.model import Application, Operation, OpKind, SubscriberSummary
from gallery_sync.rules import add_days

START = "2026-01-01T00:00:00Z"
AGREED = frozenset({"digital-content-publishing", "ai-gallery-service"})
V1 = {"region": "cn-north-4", "ai_application": "app", "description": "", "status": "released"}


def day(n: int) -> str:
    return add_days(START, n)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> str:
        return self.now


class SubscriptionSuite:
    """Every test runs on the store of `store_url`; subclasses say which."""

    @pytest.fixture
    def store_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[Store]:
        store = open_store(store_url, create=True)
        store.add_application(Application("app", "cn-north-4"), "acme")
        yield store
        store.close()

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    def as_(self, store: Store, clock: Clock, account: str | None) -> GalleryService:
        return GalleryService(
            store, Principal(account, Role.PUBLISHER if account else None), clock=clock
        )

    def publish(
        self,
        store: Store,
        clock: Clock,
        duration: Any = None,
        visibility: Any = "public",
    ) -> None:
        body = {
            "title": "Flowers",
            "visibility": visibility,
            "duration_limit": duration or {"days": 30, "auto_renew": True},
            "versions": {"1.0.0": V1},
        }
        self.write(store, clock, Operation(OpKind.CREATE, value=body), revision=None)

    def write(self, store: Store, clock: Clock, *ops: Operation, revision: int | None) -> int:
        acme = self.as_(store, clock, "acme")
        return acme.write_asset(WriteRequest("flowers", revision, ops, AGREED))

    def refusal(self, call: Any) -> str:
        with pytest.raises(GalleryRefusal) as caught:
            call()
        return caught.value.code

    def test_a_subscriber_sees_a_discontinued_asset_within_its_term_and_not_after(
        self, store: Store, clock: Clock
    ) -> None:
        self.publish(store, clock)
        bob, eve, anyone = (self.as_(store, clock, a) for a in ("bob", "eve", None))
        acme = self.as_(store, clock, "acme")
        assert bob.subscribe("flowers") == Subscription("flowers", "bob", START, day(30), True)
        clock.now = day(40)  # renewed once: the term runs to day 60
        assert acme.subscribers("flowers") == SubscriberSummary(1, day(60))
        self.write(store, clock, Operation(OpKind.DISCONTINUE), revision=1)
        clock.now = day(41)
        assert acme.subscribers("flowers") == SubscriberSummary(1, day(60))
        assert bob.asset("flowers") is not None
        assert eve.asset("flowers") is None and anyone.asset("flowers") is None
        assert self.refusal(lambda: eve.subscribe("flowers")) == "not-found"
        assert self.refusal(lambda: bob.subscribe("flowers")) == "conflict"
        clock.now = add_days(day(59), 0).replace("T00:00:00", "T23:59:59")
        assert bob.asset("flowers") is not None
        clock.now = day(60)  # the term ended; renewals ended with the discontinue
        assert bob.asset("flowers") is None
        assert self.refusal(lambda: bob.subscribe("flowers")) == "not-found"
        assert self.refusal(lambda: bob.subscribers("flowers")) == "not-found"
        assert acme.asset("flowers") is not None  # the owner, always
        assert acme.subscribers("flowers") == SubscriberSummary(0, None)

    def test_releasing_again_opens_new_subscriptions_and_renews_no_old_term(
        self, store: Store, clock: Clock
    ) -> None:
        self.publish(store, clock)
        bob, acme = self.as_(store, clock, "bob"), self.as_(store, clock, "acme")
        bob.subscribe("flowers")
        clock.now = day(10)
        self.write(store, clock, Operation(OpKind.DISCONTINUE), revision=1)
        clock.now = day(20)
        self.write(store, clock, Operation(OpKind.RELEASE), revision=2)
        assert acme.subscribers("flowers") == SubscriberSummary(1, day(30))
        clock.now = day(31)  # the term discontinue cut from renewing ended on day 30
        assert acme.subscribers("flowers") == SubscriberSummary(0, None)
        again = bob.subscribe("flowers")
        assert again == Subscription("flowers", "bob", day(31), day(61), True)
        assert acme.subscribers("flowers") == SubscriberSummary(1, day(61))

    def test_a_new_duration_limit_keeps_running_terms_and_applies_to_renewals(
        self, store: Store, clock: Clock
    ) -> None:
        self.publish(store, clock)
        bob, acme = self.as_(store, clock, "bob"), self.as_(store, clock, "acme")
        bob.subscribe("flowers")
        clock.now = day(40)
        seven = {"days": 7, "auto_renew": True}
        self.write(store, clock, Operation(OpKind.SET_DURATION, value=seven), revision=1)
        # Settled in the write: the term running on day 40 (to day 60) is kept as stored.
        assert store.subscriptions(asset="flowers") == [
            Subscription("flowers", "bob", START, day(60), True)
        ]
        assert acme.subscribers("flowers") == SubscriberSummary(1, day(60))
        clock.now = day(62)  # renewed under the new limit: 60..67
        assert acme.subscribers("flowers") == SubscriberSummary(1, day(67))
        carol = self.as_(store, clock, "carol").subscribe("flowers")
        assert carol.ends_at == day(69)  # a new subscription takes the new limit

    def test_unlimited_terms_never_end_even_after_a_discontinue(
        self, store: Store, clock: Clock
    ) -> None:
        self.publish(store, clock, duration="unlimited")
        bob, acme = self.as_(store, clock, "bob"), self.as_(store, clock, "acme")
        assert bob.subscribe("flowers").ends_at is None
        self.write(store, clock, Operation(OpKind.DISCONTINUE), revision=1)
        clock.now = day(9000)
        assert bob.asset("flowers") is not None
        assert acme.subscribers("flowers") == SubscriberSummary(1, None)

    def test_who_may_subscribe_and_subscribing_again(self, store: Store, clock: Clock) -> None:
        self.publish(store, clock, visibility={"specific_users": ["bob"]})
        bob = self.as_(store, clock, "bob")
        assert self.refusal(lambda: self.as_(store, clock, None).subscribe("flowers")) == (
            "unauthenticated"
        )
        assert self.refusal(lambda: self.as_(store, clock, "eve").subscribe("flowers")) == (
            "not-found"
        )
        assert self.refusal(lambda: bob.subscribe("nothing-here")) == "not-found"
        assert self.refusal(lambda: self.as_(store, clock, "acme").subscribe("flowers")) == (
            "request-invalid"
        )
        first = bob.subscribe("flowers")
        clock.now = day(5)
        # A renewing term runs to day 30; a new one would end on day 35: it replaces it.
        assert bob.subscribe("flowers") == Subscription("flowers", "bob", day(5), day(35), True)
        assert first.ends_at == day(30)
        assert [s.ends_at for s in store.subscriptions(asset="flowers")] == [day(35)]

    def test_a_refused_subscription_writes_nothing(self, store: Store, clock: Clock) -> None:
        self.publish(store, clock, visibility="only_me")
        for account in ("eve", "acme"):
            self.refusal(lambda a=account: self.as_(store, clock, a).subscribe("flowers"))
        assert store.subscriptions() == []


class TestSubscriptionsOnSqlite(SubscriptionSuite):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'g.db'}"


class TestSubscriptionsOnPostgres(SubscriptionSuite):
    @pytest.fixture
    def store_url(self, pg_url: str) -> str:
        return pg_url
