"""Subscription terms (SPEC section 7) as pure rules, at fixed times."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gallery_sync.model import Asset, DurationLimit, Status, Version, Visibility, VisibilityLevel
from gallery_sync.rules import (
    Term,
    add_days,
    may_see,
    running_term,
    settle_term,
    settles_terms,
    subscribe_refusal,
    subscription_term,
)

START = "2026-01-01T00:00:00Z"
RENEWING = DurationLimit(30, auto_renew=True)
ONCE = DurationLimit(30, auto_renew=False)
UNLIMITED = DurationLimit()


def asset(limit: DurationLimit = RENEWING, status: Status = Status.RELEASED) -> Asset:
    return Asset(
        "flowers",
        "acme",
        "Flowers",
        (Version("1.0.0", "cn-north-4", "app"),),
        visibility=Visibility(VisibilityLevel.PUBLIC),
        duration_limit=limit,
        status=status,
    )


def day(n: int, time: str = "00:00:00") -> str:
    """The time `n` days after START."""
    return add_days(START, n).replace("00:00:00", time)


def test_add_days_crosses_months_years_and_leap_days() -> None:
    assert add_days("2028-02-28T10:00:00Z", 1) == "2028-02-29T10:00:00Z"
    assert add_days("2026-12-31T23:59:59Z", 1) == "2027-01-01T23:59:59Z"
    assert add_days(START, 3650) == "2035-12-30T00:00:00Z"


def test_unlimited_never_ends() -> None:
    term = subscription_term(UNLIMITED, START)
    assert term == Term(None, False)
    assert running_term(term, asset(UNLIMITED), "2099-01-01T00:00:00Z") == Term(None, False)
    gone = asset(UNLIMITED, Status.DISCONTINUED)
    assert may_see(gone, "bob", running_term(term, gone, "2099-01-01T00:00:00Z").end, day(9999))


def test_n_days_ends_n_days_after_it_began() -> None:
    term = subscription_term(ONCE, START)
    assert term == Term(day(30), True)
    assert running_term(term, asset(ONCE), day(29)) == Term(day(30), True)
    # Past its end, a limit without auto_renew renews nothing: the term ended at day 30.
    assert running_term(term, asset(ONCE), day(31)) == Term(day(30), False)


def test_auto_renew_renews_by_whole_periods_up_to_now() -> None:
    term = subscription_term(RENEWING, START)
    released = asset(RENEWING)
    assert running_term(term, released, day(29, "23:59:59")).end == day(30)
    assert running_term(term, released, day(30)).end == day(60)  # the end instant renews
    assert running_term(term, released, day(45)).end == day(60)
    assert running_term(term, released, day(95)) == Term(day(120), True)
    assert running_term(term, released, day(3000)).end == day(3030)


def test_a_changed_duration_applies_to_renewals_and_keeps_the_running_term() -> None:
    term = subscription_term(RENEWING, START)  # 30 days, auto-renew
    before, after = asset(RENEWING), asset(DurationLimit(7, auto_renew=True))
    # Changed on day 40, within the second term (day 30..60): that term is kept whole.
    settled = settle_term(term, before, after, day(40))
    assert settled == Term(day(60), True)
    assert running_term(settled, after, day(59)).end == day(60)
    # Then the new limit's 7-day periods: 60..67, 67..74.
    assert running_term(settled, after, day(60)).end == day(67)
    assert running_term(settled, after, day(70)).end == day(74)
    # A new subscription on day 40 takes the new limit from the start.
    assert subscription_term(after.duration_limit, day(40)) == Term(day(47), True)


def test_a_limit_that_stops_renewing_ends_the_running_term_at_its_end() -> None:
    settled = settle_term(subscription_term(RENEWING, START), asset(RENEWING), asset(ONCE), day(10))
    assert settled == Term(day(30), True)
    assert running_term(settled, asset(ONCE), day(31)) == Term(day(30), False)


def test_a_renewing_term_renews_into_unlimited() -> None:
    settled = settle_term(
        subscription_term(RENEWING, START), asset(RENEWING), asset(UNLIMITED), day(10)
    )
    assert running_term(settled, asset(UNLIMITED), day(29)).end == day(30)
    assert running_term(settled, asset(UNLIMITED), day(30)) == Term(None, False)


def test_renewal_stops_at_discontinue_and_the_running_term_is_kept() -> None:
    term = subscription_term(RENEWING, START)
    released, gone = asset(RENEWING), asset(RENEWING, Status.DISCONTINUED)
    # Discontinued on day 75, in the third term (day 60..90): kept to day 90, no renewal.
    settled = settle_term(term, released, gone, day(75))
    assert settled == Term(day(90), False)
    assert running_term(settled, gone, day(89)).end == day(90)
    assert may_see(gone, "bob", running_term(settled, gone, day(89)).end, day(89))
    assert running_term(settled, gone, day(200)) == Term(day(90), False)
    assert not may_see(gone, "bob", running_term(settled, gone, day(90)).end, day(90))


def test_discontinue_mid_term_then_release_renews_nothing_more() -> None:
    term = subscription_term(RENEWING, START)
    released, gone = asset(RENEWING), asset(RENEWING, Status.DISCONTINUED)
    settled = settle_term(term, released, gone, day(10))  # first term kept: day 30
    assert settled == Term(day(30), False)
    # Released again on day 20: the term runs to day 30 and does not renew; the consumer
    # subscribes again for a new term.
    again = settle_term(settled, gone, released, day(20))
    assert again == Term(day(30), False)
    assert running_term(again, released, day(45)) == Term(day(30), False)
    assert subscribe_refusal(released, "bob") is None
    assert subscription_term(released.duration_limit, day(45)) == Term(day(75), True)


def test_which_writes_settle_running_terms() -> None:
    released = asset(RENEWING)
    assert settles_terms(released, replace(released, status=Status.DISCONTINUED))
    assert settles_terms(released, replace(released, duration_limit=ONCE))
    assert not settles_terms(released, replace(released, title="Roses"))
    assert not settles_terms(None, released)
    gone = replace(released, status=Status.DISCONTINUED)
    assert not settles_terms(gone, released)  # releasing again leaves terms as they are


@pytest.mark.parametrize(
    ("status", "account", "code"),
    [
        (Status.RELEASED, "bob", None),
        (Status.RELEASED, "acme", "request-invalid"),  # the owner needs no subscription
        (Status.DISCONTINUED, "bob", "conflict"),
    ],
)
def test_who_may_subscribe(status: Status, account: str, code: str | None) -> None:
    refusal = subscribe_refusal(asset(status=status), account)
    assert (refusal.code if refusal else None) == code
