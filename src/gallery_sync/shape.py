"""The shape check: would a value the gallery is asked to keep pass gallery.schema.json?

The gallery's write path is the last line, whoever the client is (an edited plan, a client
that skipped validate): every asset it stores, and every application it registers, must have
the shape the schema gives a config. The limits and patterns are read from the bundled
schema itself, so that it stays their single source. Patterns are matched against the whole
string (`re.fullmatch`): a `$` in a schema pattern would otherwise let `"flowers\\n"` through.
Pure: no I/O but reading the bundled schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.model import Asset, DurationLimit, Status, Version, Visibility, VisibilityLevel

# Not in the schema (a config names a cover by path): the gallery keeps covers by content.
SHA256 = re.compile(r"[0-9a-f]{64}")
# A container image reference or a registry pattern: at most this long, one printable word.
MAX_TOKEN = 1024


# Values found to fit a patterned rule, by the rule's name: regions, version numbers,
# categories and users repeat across thousands of assets. Bounded (in all) so that a
# long-lived server cannot grow it without end. A rule without a pattern is only lengths, and
# one whose values are each an asset's own (ids, titles, applications) never repeats: neither
# is kept (30,000 new assets' ids, titles and applications were 6 MiB of apply's peak).
_FITS: dict[str, set[str]] = {}
_FITS_KEPT = 200_000
_fits_kept = 0


@dataclass(frozen=True, slots=True)
class Text:
    """One string field's rule: a pattern matched whole, and bounds on its length."""

    what: str
    pattern: re.Pattern[str] | None = None
    min_length: int = 0
    max_length: int | None = None
    repeats: bool = True  # its values recur across assets: those found to fit are kept

    def problem(self, value: object) -> str | None:
        """Why `value` does not fit, or None."""
        if not isinstance(value, str) or self.pattern is None:
            return self._problem(value)
        known = _FITS.get(self.what)
        if known is not None and value in known:
            return None
        found = self._problem(value)
        if found is None:
            self._keep(value)
        return found

    def fits(self, value: object) -> bool:
        """Whether `value` fits, no message built: a plain string only (a subclass, or any
        other type, is left to `problem`). `problem(value) is None`, written out: asked of
        every string of every asset the gallery stores (~1 us less each)."""
        if type(value) is not str:
            return False
        pattern = self.pattern
        if pattern is not None:
            known = _FITS.get(self.what)
            if known is not None and value in known:
                return True
        size = len(value)
        if size < self.min_length or (self.max_length is not None and size > self.max_length):
            return False
        if pattern is None:
            return True
        if pattern.fullmatch(value) is None:
            return False
        self._keep(value)
        return True

    def _keep(self, value: str) -> None:
        """Remember that `value` fits, if this rule's values recur across assets."""
        global _fits_kept
        if self.repeats and _fits_kept < _FITS_KEPT:
            _FITS.setdefault(self.what, set()).add(value)
            _fits_kept += 1

    def known(self) -> set[str] | frozenset[str]:
        """The values found to fit so far (a set that may grow while it is used)."""
        return _FITS.get(self.what) or frozenset()

    def _problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return f"{self.what} must be a string, not {type(value).__name__}"
        if len(value) < self.min_length:
            return f"{self.what} is empty" if not value else f"{self.what} is too short"
        if self.max_length is not None and len(value) > self.max_length:
            return f"{self.what} is {len(value):,} characters; at most {self.max_length:,} allowed"
        if self.pattern is not None and self.pattern.fullmatch(value) is None:
            return f"{self.what} {quoted(value)} does not match {self.pattern.pattern}"
        return None


@dataclass(frozen=True, slots=True)
class Shape:
    """Every limit of the schema the gallery checks, read from the schema once."""

    asset_id: Text
    account: Text
    title: Text
    description: Text
    category: Text
    max_categories: int
    user: Text
    days: tuple[int, int]
    version: Text
    region: Text
    application: Text
    version_description: Text
    statuses: frozenset[str]
    min_versions: int
    agreement: Text


def _schema() -> dict[str, Any]:
    text = resources.files("gallery_sync").joinpath("schemas/gallery.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _variant(alternatives: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The object alternative of a `oneOf` that has property `key`."""
    for alternative in alternatives:
        if key in alternative.get("properties", {}):
            return alternative
    raise LookupError(f"the schema has no {key} alternative")


def _text(
    what: str, node: Mapping[str, Any], defs: Mapping[str, Any], *, repeats: bool = True
) -> Text:
    if "$ref" in node:
        node = {**defs[node["$ref"].rpartition("/")[2]], **node}
    pattern = node.get("pattern")
    return Text(
        what,
        re.compile(pattern) if pattern is not None else None,
        node.get("minLength", 0),
        node.get("maxLength"),
        repeats,
    )


@cache
def shape() -> Shape:
    """The schema's limits, compiled. Raises LookupError/KeyError if the schema lost one."""
    schema = _schema()
    defs = schema["$defs"]
    asset = defs["asset"]["properties"]
    version = defs["assetVersion"]["properties"]
    users = _variant(asset["visibility"]["oneOf"], "specific_users")
    days = _variant(asset["duration_limit"]["oneOf"], "days")["properties"]["days"]
    return Shape(
        asset_id=_text(
            "asset id", schema["properties"]["assets"]["propertyNames"], defs, repeats=False
        ),
        account=_text(
            "publisher", schema["properties"]["publisher"]["properties"]["account"], defs
        ),
        title=_text("title", asset["title"], defs, repeats=False),
        description=_text("description", asset["description"], defs),
        category=_text("category", asset["categories"]["items"], defs),
        max_categories=asset["categories"]["maxItems"],
        user=_text("user", users["properties"]["specific_users"]["items"], defs),
        days=(days["minimum"], days["maximum"]),
        version=_text("version", version["version"], defs),
        region=_text("region", version["region"], defs),
        application=_text("ai_application", version["ai_application"], defs, repeats=False),
        version_description=_text("version description", version["description"], defs),
        statuses=frozenset(defs["status"]["enum"]),
        min_versions=asset["versions"]["minItems"],
        agreement=_text(
            "agreement id",
            schema["properties"]["publisher"]["properties"]["accepted_agreements"]["items"],
            defs,
        ),
    )


def check_asset(asset: Asset) -> list[Diagnostic]:
    """A `schema` diagnostic for every way `asset` would not pass the schema as stored."""
    s = shape()
    if _fits(s, asset):  # the common case, without a generator per field
        return []
    return [
        Diagnostic.of(
            "schema",
            f"the gallery refuses to store it: {problem}",
            asset=_id(asset),
            version=number,
        )
        for number, problem in _asset_problems(s, asset)
    ]


def _fits(s: Shape, a: Asset) -> bool:
    """True only if `_asset_problems` would find nothing: exact types, every value fitting.
    Anything unusual (a subclass, a problem) answers False, and the full check says why."""
    if not (
        s.asset_id.fits(a.id)
        and s.account.fits(a.publisher)
        and s.title.fits(a.title)
        and s.description.fits(a.description)
        and (a.cover is None or (type(a.cover) is str and SHA256.fullmatch(a.cover) is not None))
        and type(a.status) is Status
        and a.status._value_ in s.statuses
    ):
        return False
    categories = a.categories
    if (
        type(categories) is not tuple
        or len(categories) > s.max_categories
        or not all(s.category.fits(c) for c in categories)
        or len(set(categories)) != len(categories)
    ):
        return False
    visibility, limit = a.visibility, a.duration_limit
    if type(visibility) is not Visibility or type(visibility.level) is not VisibilityLevel:
        return False
    users = visibility.users
    if visibility.level is not VisibilityLevel.SPECIFIC_USERS:
        if users:
            return False
    elif type(users) is not frozenset or not users or not all(s.user.fits(u) for u in users):
        return False
    if type(limit) is not DurationLimit or type(limit.auto_renew) is not bool:
        return False
    days = limit.days
    if days is not None and (type(days) is not int or not s.days[0] <= days <= s.days[1]):
        return False
    versions = a.versions
    if type(versions) is not tuple or len(versions) < s.min_versions:
        return False
    # The sets of known values, looked up here once, not per version: most versions of a big
    # config name values already seen.
    numbers, regions = s.version.known(), s.region.known()  # applications: never kept
    for v in versions:
        if type(v) is not Version:
            return False
        number, region, application, text = v.version, v.region, v.ai_application, v.description
        if not (
            type(number) is str
            and type(region) is str
            and type(application) is str
            and (number in numbers or s.version.fits(number))
            and (region in regions or s.region.fits(region))
            and s.application.fits(application)
            and s.version_description.fits(text)
            and type(v.status) is Status
            and v.status._value_ in s.statuses
        ):
            return False
    return len({v.version for v in versions}) == len(versions)


def _asset_problems(s: Shape, a: Asset) -> Iterator[tuple[str | None, str]]:
    texts = ((s.asset_id, a.id), (s.account, a.publisher), (s.title, a.title))
    yield from ((None, p) for p in _texts((*texts, (s.description, a.description))))
    if a.cover is not None and not (isinstance(a.cover, str) and SHA256.fullmatch(a.cover)):
        yield None, f"cover {quoted(a.cover)} is not the sha256 of an image (64 hex digits)"
    yield from ((None, p) for p in _categories(s, a.categories))
    yield from ((None, p) for p in _visibility(s, a.visibility))
    yield from ((None, p) for p in _duration(s, a.duration_limit))
    if not isinstance(a.status, Status) or a.status.value not in s.statuses:
        yield None, f"status {quoted(a.status)} is not one of {', '.join(sorted(s.statuses))}"
    if not isinstance(a.versions, tuple) or len(a.versions) < s.min_versions:
        yield None, f"an asset needs at least {s.min_versions} version"
        return
    seen: set[object] = set()
    for v in a.versions:
        if not isinstance(v, Version):
            yield None, f"version {quoted(v)} is not a version"
            continue
        number = v.version if isinstance(v.version, str) else None
        if v.version in seen:
            yield number, f"version {quoted(v.version)} is listed twice"
        seen.add(v.version)
        yield from ((number, p) for p in _version(s, v))


def _texts(checks: tuple[tuple[Text, object], ...]) -> Iterator[str]:
    for rule, value in checks:
        problem = rule.problem(value)
        if problem:
            yield problem


def _categories(s: Shape, categories: object) -> Iterator[str]:
    if not isinstance(categories, tuple):
        yield f"categories must be a list, not {type(categories).__name__}"
        return
    if len(categories) > s.max_categories:
        yield f"{len(categories)} categories; at most {s.max_categories} allowed"
    if len(set(map(repr, categories))) != len(categories):
        yield "categories are not unique"
    for category in categories:
        problem = s.category.problem(category)
        if problem:
            yield problem


def _visibility(s: Shape, visibility: object) -> Iterator[str]:
    if not isinstance(visibility, Visibility) or not isinstance(visibility.level, VisibilityLevel):
        yield f"visibility {quoted(visibility)} is not only_me, public or specific_users"
        return
    users = visibility.users
    if visibility.level is not VisibilityLevel.SPECIFIC_USERS:
        if users:
            yield f"visibility {visibility.name} cannot name users"
        return
    if not isinstance(users, frozenset) or not users:
        yield "visibility specific_users needs at least one user"
        return
    for user in sorted(users, key=repr):
        problem = s.user.problem(user)
        if problem:
            yield problem


def _duration(s: Shape, limit: object) -> Iterator[str]:
    if not isinstance(limit, DurationLimit):
        yield f"duration_limit {quoted(limit)} is not unlimited or {{days, auto_renew}}"
        return
    low, high = s.days
    days = limit.days
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
        yield f"duration_limit days must be a whole number, not {type(days).__name__}"
    elif days is not None and not low <= days <= high:
        yield f"duration_limit days is {days}; it must be {low} to {high}"
    if not isinstance(limit.auto_renew, bool):
        yield "duration_limit auto_renew must be true or false"


def _version(s: Shape, v: Version) -> Iterator[str]:
    yield from _texts(
        (
            (s.version, v.version),
            (s.region, v.region),
            (s.application, v.ai_application),
            (s.version_description, v.description),
        )
    )
    if not isinstance(v.status, Status) or v.status.value not in s.statuses:
        yield f"status {quoted(v.status)} is not one of {', '.join(sorted(s.statuses))}"


def check_application(name: str, region: str, image: str | None) -> list[str]:
    """Why an AI application could not be in any catalog (empty if it could): its name and
    region as a version names them in a config, its image a reference without whitespace."""
    s = shape()
    problems = [p for p in (s.application.problem(name), s.region.problem(region)) if p]
    if image is not None:
        problems += _token_problems("image", image)
    return problems


def check_registry_pattern(pattern: str) -> list[str]:
    """Why `pattern` cannot be an allowed-registry pattern (empty if it can)."""
    return _token_problems("registry pattern", pattern)


# An agreement's title, as the operator names it: one line a person reads.
MAX_AGREEMENT_TITLE = 200


def check_account(name: str) -> list[str]:
    """Why `name` cannot be an account (empty if it can): a publisher's account, or a
    consumer's as specific_users lists it."""
    problem = replace(shape().user, what="account").problem(name)
    return [problem] if problem else []


def check_category(slug: str) -> list[str]:
    """Why `slug` cannot be a category of the taxonomy (empty if it can)."""
    problem = shape().category.problem(slug)
    return [problem] if problem else []


def check_agreement(agreement_id: str, title: str | None = None) -> list[str]:
    """Why an agreement (its id, and its title if given) cannot be in a catalog."""
    problems = [p for p in (shape().agreement.problem(agreement_id),) if p]
    if title is not None:
        if not title.strip():
            problems.append("agreement title is empty")
        elif len(title) > MAX_AGREEMENT_TITLE:
            problems.append(
                f"agreement title is {len(title):,} characters; at most "
                f"{MAX_AGREEMENT_TITLE} allowed"
            )
        elif not title.isprintable():
            problems.append(f"agreement title {quoted(title)} may hold no control characters")
    return problems


def _token_problems(what: str, value: str) -> list[str]:
    if not value.strip():
        return [f"{what} is empty"]
    if len(value) > MAX_TOKEN:
        return [f"{what} is {len(value):,} characters; at most {MAX_TOKEN:,} allowed"]
    # isprintable is False for controls (C0, C1), bidi overrides and zero-width characters.
    if not value.isprintable() or any(c.isspace() for c in value):
        return [f"{what} {quoted(value)} may hold no whitespace or control characters"]
    return []


def quoted(value: object, limit: int = 60) -> str:
    """A value in a message: repr (which makes every control character visible), cut."""
    shown = repr(value.value if isinstance(value, Status) else value)
    if len(shown) > limit:
        return f"{shown[: limit - 1]}… ({len(shown):,} characters)"
    return shown


def _id(asset: Asset) -> str | None:
    return asset.id if isinstance(asset.id, str) else None
