"""PURE: the transition rules of SPEC section 3, the one place they live.

`plan` calls `check_asset` on (gallery state, desired state) to report every violation early,
with its line; the gallery calls it on (stored state, state after the write) to refuse a write
from any client. Nothing here does I/O.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from gallery_sync.diagnostics import CODES, Severity
from gallery_sync.model import (
    Asset,
    Catalog,
    DurationLimit,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
    version_key,
)

# \Z, not $: `$` also matches before a final newline ("...@sha256:<hex>\n" would pass).
PINNED_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\Z")
DEFAULT_ALLOWED_REGISTRIES = ("swr.*.myhuaweicloud.com",)

VISIBILITY_WAY_FORWARD = (
    "visibility can only widen: only_me -> specific_users -> public; specific_users may gain "
    "users, never lose them; public is final. To hide the asset from new users, discontinue it "
    "(status: discontinued)"
)


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule broken by a transition. `field` names what to point at (None: the asset's key)."""

    code: str
    message: str
    version: str | None = None
    field: str | None = None
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        if self.code not in CODES:  # the codes are a contract: no spelling of our own
            raise ValueError(f"unknown diagnostic code {self.code!r}")


@dataclass(frozen=True, slots=True)
class Context:
    """What a check needs besides the two states: the catalog and the writer's declarations."""

    catalog: Catalog
    publisher: str
    accepted_agreements: frozenset[str]


# A term_end for an account with no running subscription: it ends before any `now`.
NOT_SUBSCRIBED = ""


def may_see(asset: Asset, account: str | None, term_end: str | None, now: str) -> bool:
    """Whether `account` (None: anonymous) may see `asset` (SPEC section 7). `term_end` is when
    the account's subscription to it ends (ISO-8601 UTC; None: never, NOT_SUBSCRIBED: it has
    none); `now` is the time of the read, in the same form.

    The owner sees its asset. A discontinued asset: only subscribers whose term runs. Otherwise
    only_me: nobody else; specific_users: the listed accounts; public: everyone.
    """
    if account is not None and account == asset.publisher:
        return True
    if asset.status is Status.DISCONTINUED:
        return account is not None and (term_end is None or term_end > now)
    level = asset.visibility.level
    if level is VisibilityLevel.PUBLIC:
        return True
    if level is VisibilityLevel.SPECIFIC_USERS:
        return account is not None and account in asset.visibility.users
    return False


@dataclass(frozen=True, slots=True)
class Audience:
    """Whose listing of RELEASED assets a store is asked for, as a filter its query applies:
    `may_see` restricted to released assets, which no term decides. sees_all: every released
    asset (the embedded gallery's user, an admin); else the public ones, the account's own
    and those whose specific_users list it (anonymous: the public ones)."""

    account: str | None
    sees_all: bool = False

    def admits(self, asset: Asset) -> bool:
        """The same decision in Python: what the stores' SQL must agree with (contract)."""
        if asset.status is not Status.RELEASED:
            return False
        return self.sees_all or may_see(asset, self.account, NOT_SUBSCRIBED, "")


# --- Subscription terms (SPEC section 7): when a subscriber's access ends ------------------
#
# Times are ISO-8601 UTC strings, "2026-05-01T12:00:00Z": they compare as text. A stored term
# is (end, renews): `end` None never ends; `renews` False once the asset's discontinue ended
# its renewals. Renewal is evaluated lazily when read, with the asset's duration limit as it
# is now; the gallery settles each running term (`settle_term`) in the write that discontinues
# the asset or changes its limit, so that the limit read here is the one in force since the
# stored end. So no discontinue time, no limit history and no background job is needed.

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


def add_days(when: str, days: int) -> str:
    return (_parse_time(when) + timedelta(days=days)).strftime(TIME_FORMAT)


@dataclass(frozen=True, slots=True)
class Term:
    """A subscription's running term: when it ends (None: never), and whether it may still
    renew at its end (False once the asset was discontinued during it)."""

    end: str | None
    renews: bool


def subscription_term(limit: DurationLimit, start: str) -> Term:
    """The first term of a subscription begun at `start` under the asset's `limit`."""
    if limit.days is None:
        return Term(None, False)
    return Term(add_days(start, limit.days), True)


def running_term(term: Term, asset: Asset, now: str) -> Term:
    """The term as it runs at `now`: renewed by whole periods of the asset's duration limit
    while the asset is released and the limit renews (auto_renew; unlimited renews into a term
    that never ends). A discontinued asset renews nothing: its running terms end as they are."""
    end = term.end
    if end is None:
        return term
    released = asset.status is Status.RELEASED
    if not term.renews or not released:
        return Term(end, False)
    if now < end:
        return term
    limit = asset.duration_limit
    if limit.days is None:
        return Term(None, False)
    if not limit.auto_renew:  # the limit in force at the end says: no renewal
        return Term(end, False)
    period = timedelta(days=limit.days)
    start = _parse_time(end)
    periods = (_parse_time(now) - start) // period + 1  # whole periods: the new end is > now
    return Term((start + periods * period).strftime(TIME_FORMAT), True)


def settle_term(term: Term, before: Asset, after: Asset, now: str) -> Term:
    """The term to keep when a write takes the asset from `before` to `after` at `now`: the
    term running under the old limit is kept to its end; discontinuing ends its renewals."""
    running = running_term(term, before, now)
    if after.status is Status.DISCONTINUED:
        return Term(running.end, False)
    return running


def settles_terms(before: Asset | None, after: Asset) -> bool:
    """Whether a write changes what running terms become (a discontinue, a new limit)."""
    return before is not None and (
        (before.status is Status.RELEASED and after.status is Status.DISCONTINUED)
        or before.duration_limit != after.duration_limit
    )


def subscribe_refusal(asset: Asset, account: str) -> Violation | None:
    """Why `account` may not subscribe to `asset`, which it may see; None if it may."""
    if account == asset.publisher:
        return Violation(
            "request-invalid",
            f"{account!r} publishes asset {asset.id!r}: its owner sees it without a subscription",
        )
    if asset.status is Status.DISCONTINUED:
        return Violation(
            "conflict",
            f"asset {asset.id!r} is discontinued and takes no new subscriptions (running terms "
            "are kept); it opens to subscriptions again when its publisher releases it",
        )
    return None


def check_asset(before: Asset | None, after: Asset, ctx: Context) -> list[Violation]:
    """Every violation of moving one asset from `before` (None: new) to `after`."""
    if before is not None and before.publisher != ctx.publisher:
        return [
            Violation(
                "asset-owned-by-other",
                f"asset id {after.id!r} belongs to publisher {before.publisher!r} in the gallery; "
                f"{ctx.publisher!r} cannot change it. Choose another asset id",
            )
        ]
    if before is None:
        if _new_and_clear(after, ctx):
            return []
    elif before.same_state(after):
        # Every rule below judges what a change adds or alters (a category, a version, a
        # visibility, a status): an unchanged asset breaks none, whatever the catalog says
        # now. Most assets of a plan are unchanged: 9 us each of a 10,000-asset plan's 0.09 s.
        return []
    return _check_change(before, after, ctx)


def _new_and_clear(after: Asset, ctx: Context) -> bool:
    """True only if `_check_change(None, after, ctx)` finds nothing: a released asset, every
    agreement accepted, every category known, every version released from a known model
    application (not an image, which the image policy judges). Anything else: the rules say.
    ~2 us, not 8: a first apply checks each of its 10,000s of assets twice (plan, gallery)."""
    catalog = ctx.catalog
    if after.status is not Status.RELEASED or not catalog.agreements <= ctx.accepted_agreements:
        return False
    categories = catalog.categories
    for category in after.categories:
        if category not in categories:
            return False
    applications = catalog.applications
    for v in after.versions:
        if v.status is not Status.RELEASED:
            return False
        app = applications.get((v.region, v.ai_application))
        if app is None or app.image is not None:
            return False
    return True


def _check_change(before: Asset | None, after: Asset, ctx: Context) -> list[Violation]:
    """check_asset's rules, each of them, for a change of an asset it owns (or a new one)."""
    found: list[Violation] = []
    found += _check_new_asset(before, after, ctx)
    found += _check_categories(before, after, ctx)
    if before is not None:
        found += _check_visibility(before.visibility, after.visibility)
    found += _check_versions(before, after, ctx)
    found += _check_discontinue_last(before, after)
    return found


def _check_new_asset(before: Asset | None, after: Asset, ctx: Context) -> Iterator[Violation]:
    if before is not None:
        return
    if after.status is Status.DISCONTINUED:
        yield Violation(
            "new-asset-discontinued",
            "a new asset cannot be published as discontinued; publish it released, or leave it "
            "out of the file until it is ready",
            field="status",
        )
    missing = _missing_agreements(ctx)
    if missing:
        yield Violation(
            "agreement-missing",
            f"publishing a new asset needs every current agreement; add {_listing(missing)} to "
            "publisher.accepted_agreements",
        )


def _missing_agreements(ctx: Context) -> list[str]:
    return sorted(ctx.catalog.agreements - ctx.accepted_agreements)


def _check_categories(before: Asset | None, after: Asset, ctx: Context) -> Iterator[Violation]:
    # Only categories this change adds: a category dropped from the taxonomy later must not
    # lock an existing asset out of every other update.
    kept = set(before.categories) if before else set()
    for category in after.categories:
        if category in kept or category in ctx.catalog.categories:
            continue
        yield Violation(
            "unknown-category",
            _unknown_category(category, frozenset(ctx.catalog.categories)),
            field="categories",
        )


@lru_cache(maxsize=256)
def _unknown_category(category: str, taxonomy: frozenset[str]) -> str:
    """Said once per (category, taxonomy): a typo copied into 10,000 assets is one difflib
    search, not 10,000 of them."""
    return (
        f"category {category!r} is not in the gallery's taxonomy"
        + _did_you_mean(category, taxonomy)
        + f"; known: {', '.join(sorted(taxonomy))}"
    )


def _check_visibility(before: Visibility, after: Visibility) -> Iterator[Violation]:
    # Whether a file wrote `only_me` or named no visibility is the plan's to say (it knows the
    # file): see plan.NO_VISIBILITY_NOTE.
    if before.level is VisibilityLevel.PUBLIC and after.level is not VisibilityLevel.PUBLIC:
        yield Violation(
            "visibility-narrowing",
            f"the asset is public and public is final; it cannot become {after}. "
            + VISIBILITY_WAY_FORWARD,
            field="visibility",
        )
    elif after.level < before.level:
        yield Violation(
            "visibility-narrowing",
            f"visibility {before} cannot become {after}. " + VISIBILITY_WAY_FORWARD,
            field="visibility",
        )
    elif after.level is VisibilityLevel.SPECIFIC_USERS and not before.users <= after.users:
        removed = sorted(before.users - after.users)
        yield Violation(
            "visibility-narrowing",
            f"specific_users would lose {_listing(removed)}; keep them listed. "
            + VISIBILITY_WAY_FORWARD,
            field="visibility",
        )


def _check_versions(before: Asset | None, after: Asset, ctx: Context) -> Iterator[Violation]:
    old = {v.version: v for v in before.versions} if before else {}
    if old:
        for number in sorted(old.keys() - {v.version for v in after.versions}, key=version_key):
            yield Violation(
                "version-removed",
                f"version {number} is published in the gallery and missing here; versions are "
                "never deleted. Keep it listed, with status: discontinued to withdraw it",
                version=number,
            )
    highest = max(map(version_key, old), default=None)
    missing_agreements = _missing_agreements(ctx) if before is not None else []
    applications = ctx.catalog.applications
    for v in sorted(after.versions, key=Version.order):
        was = old.get(v.version)
        if was is not None:
            if was != v:
                yield from _check_published_version(was, v)
            continue
        if v.status is Status.DISCONTINUED:
            yield Violation(
                "new-version-discontinued",
                f"a new version cannot be published as discontinued; publish {v.version} "
                "released, or leave it out of the file until it is ready",
                version=v.version,
                field="status",
            )
        if highest is not None and v.order() < highest:
            top = ".".join(map(str, highest))
            yield Violation(
                "version-not-increasing",
                f"new version {v.version} is lower than the highest existing version {top}; "
                "subscribers may read it as older",
                version=v.version,
                field="version",
                severity=Severity.WARNING,
            )
        if missing_agreements:
            yield Violation(
                "agreement-missing",
                f"publishing version {v.version} needs every current agreement; add "
                f"{_listing(missing_agreements)} to publisher.accepted_agreements",
                version=v.version,
                field="version",
            )
        app = applications.get((v.region, v.ai_application))
        if app is None or app.image is not None:  # the common case, a known model, passes
            yield from _check_application(v.version, v.region, v.ai_application, ctx)


def _check_published_version(was: Version, now: Version) -> Iterator[Violation]:
    for name in ("region", "ai_application"):
        if getattr(was, name) != getattr(now, name):
            yield Violation(
                "version-source-changed",
                f"version {was.version} was published from {was.source}; its {name} cannot "
                f"change to {getattr(now, name)!r}. Publish a new version from the new source "
                f"instead, and discontinue {was.version} if it should go",
                version=was.version,
                field=name,
            )
    if was.status is Status.DISCONTINUED and now.status is Status.RELEASED:
        yield Violation(
            "version-rerelease",
            f"version {was.version} is discontinued, and that is final; keep status: "
            "discontinued, and publish a new version to offer it again",
            version=was.version,
            field="status",
        )


def _check_application(number: str, region: str, name: str, ctx: Context) -> Iterator[Violation]:
    app = ctx.catalog.application(region, name)
    if app is None:
        in_region = {n for (r, n) in ctx.catalog.applications if r == region}
        elsewhere = sorted(r for (r, n) in ctx.catalog.applications if n == name)
        hint = _did_you_mean(name, in_region)
        if elsewhere:
            hint += f"; {name!r} exists in {_listing(elsewhere)}"
        if not hint:
            hint = (
                "; register it first (embedded gallery: "
                f"gallery-sync apps add {name} --region {region})"
            )
        yield Violation(
            "application-not-found",
            f"AI application {name!r} not found in region {region}{hint}",
            version=number,
            field="ai_application",
        )
        return
    if app.image is None:
        return
    finding = image_policy_finding(app.image, ctx.catalog.allowed_registries)
    if finding:
        yield Violation(
            "image-policy",
            f"version {number}: AI application {name!r} runs container image {app.image!r}, "
            f"which fails the security check: {finding}",
            version=number,
            field="ai_application",
        )


def image_policy_finding(image: str, allowed: Iterable[str]) -> str | None:
    """Why a container image may not be published, or None when it passes (SPEC section 6)."""
    allowed = tuple(allowed) or DEFAULT_ALLOWED_REGISTRIES
    problems = []
    if not PINNED_DIGEST.search(image):
        problems.append("it is not pinned by digest (write it as NAME@sha256:<64 hex digits>)")
    registry = image_registry(image)
    if not any(fnmatch.fnmatchcase(registry, pattern) for pattern in allowed):
        problems.append(f"registry {registry!r} is not allowed (allowed: {', '.join(allowed)})")
    return "; ".join(problems) or None


def image_registry(image: str) -> str:
    """The registry host of an image reference, as docker resolves it."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _check_discontinue_last(before: Asset | None, after: Asset) -> Iterator[Violation]:
    # Judged on the state after the whole plan: adding 1.1.0 and discontinuing 1.0.0 together
    # is legal.
    old = {v.version: v for v in before.versions} if before else {}
    newly = [
        v
        for v in after.versions
        if v.status is Status.DISCONTINUED
        and v.version in old
        and old[v.version].status is Status.RELEASED
    ]
    if newly and len(after.versions) < 2:
        v = newly[0]
        yield Violation(
            "version-discontinue-last",
            f"version {v.version} is the asset's only version and cannot be discontinued; "
            "publish a new version first, or discontinue the whole asset (status: discontinued)",
            version=v.version,
            field="status",
        )
        return
    released_before = before is not None and before.status is Status.RELEASED
    reviving = before is not None and not released_before
    if (newly or reviving) and after.status is Status.RELEASED and not after.released_versions:
        last = newly[-1] if newly else None
        yield Violation(
            "version-discontinue-last",
            "a released asset must keep at least one released version; "
            + (
                f"discontinuing {last.version} leaves none. Publish a new version alongside, or "
                "discontinue the whole asset (status: discontinued)"
                if last
                else "every version is discontinued, so the asset cannot be released again. "
                "Publish a new version alongside"
            ),
            version=last.version if last else None,
            field="status",
        )


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listing(items: Iterable[str]) -> str:
    return ", ".join(repr(i) for i in items)
