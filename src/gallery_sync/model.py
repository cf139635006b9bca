"""The gallery's values: assets, versions, visibility, duration limits, operations, state."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

import orjson


class Status(str, enum.Enum):
    RELEASED = "released"
    DISCONTINUED = "discontinued"

    @classmethod
    def of(cls, text: str) -> Status:
        """Status(text) without the enum call's cost: read once per version of every asset."""
        return _STATUS_BY_VALUE.get(text) or cls(text)


_STATUS_BY_VALUE = {s.value: s for s in Status}


class VisibilityLevel(enum.IntEnum):
    """Ordered from narrowest to widest: visibility may only move up this scale."""

    ONLY_ME = 0
    SPECIFIC_USERS = 1
    PUBLIC = 2


_LEVEL_NAMES = {
    VisibilityLevel.ONLY_ME: "only_me",
    VisibilityLevel.SPECIFIC_USERS: "specific_users",
    VisibilityLevel.PUBLIC: "public",
}


class Visibility(NamedTuple):
    """Who may see an asset. A named tuple, as Version: every asset has one, and comparing two
    assets' states compares theirs (in C, not a Python `__eq__`)."""

    level: VisibilityLevel = VisibilityLevel.ONLY_ME
    users: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return _LEVEL_NAMES[self.level]

    def to_json(self) -> Any:
        if self.level is VisibilityLevel.SPECIFIC_USERS:
            return {"specific_users": sorted(self.users)}
        return self.name

    @classmethod
    def from_json(cls, data: Any) -> Visibility:
        if isinstance(data, Mapping):
            return cls(VisibilityLevel.SPECIFIC_USERS, frozenset(data["specific_users"]))
        return _PLAIN_VISIBILITY[data]

    def __str__(self) -> str:
        if self.level is VisibilityLevel.SPECIFIC_USERS:
            return f"specific_users [{', '.join(sorted(self.users))}]"
        return self.name


_ONLY_ME = Visibility(VisibilityLevel.ONLY_ME)
_PLAIN_VISIBILITY = {
    "only_me": _ONLY_ME,
    "public": Visibility(VisibilityLevel.PUBLIC),
}


class DurationLimit(NamedTuple):
    """A free-duration limit; days None means unlimited. A named tuple, as Visibility."""

    days: int | None = None
    auto_renew: bool = False

    def to_json(self) -> Any:
        if self.days is None:
            return "unlimited"
        return {"days": self.days, "auto_renew": self.auto_renew}

    @classmethod
    def from_json(cls, data: Any) -> DurationLimit:
        if data is None or data == "unlimited":
            return _UNLIMITED
        return cls(int(data["days"]), bool(data.get("auto_renew", False)))

    def __str__(self) -> str:
        if self.days is None:
            return "unlimited"
        return f"{self.days} days" + (", auto-renew" if self.auto_renew else "")


_UNLIMITED = DurationLimit()


@lru_cache(maxsize=4096)
def version_key(version: str) -> tuple[int, ...]:
    """x.x.x as a sortable tuple of ints."""
    return tuple(int(part) for part in version.split("."))


class Version(NamedTuple):
    """One version of an asset.

    A named tuple, not a frozen dataclass (as Application): a 10,000-asset config and its
    gallery state hold 50,000 each, built on every plan (~2x faster to make), and comparing
    two assets' versions is tuple equality in C, not a Python `__eq__` per version.
    """

    version: str
    region: str
    ai_application: str
    description: str = ""
    status: Status = Status.RELEASED

    @property
    def source(self) -> str:
        return f"{self.region}/{self.ai_application}"

    def order(self) -> tuple[int, ...]:
        """The sort key of versions: x.x.x numerically (1.10.0 after 1.9.0)."""
        return version_key(self.version)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "ai_application": self.ai_application,
            "description": self.description,
            "status": self.status._value_,  # not `.value`: a property, read per version
        }

    @classmethod
    def from_json(cls, version: str, data: Mapping[str, Any]) -> Version:
        return cls(
            version,
            data["region"],
            data["ai_application"],
            data.get("description", ""),
            Status.of(data.get("status", "released")),
        )


@dataclass(frozen=True, slots=True)
class AssetField:
    """One field of an asset's canonical form: how it is written and read as JSON, and whether
    a plain update (update-fields) carries it. FIELDS, in canonical order, is the one list."""

    name: str
    dump: Callable[[Any], Any]  # the attribute's value -> JSON
    load: Callable[[Mapping[str, Any]], Any]  # a canonical (or config) mapping -> the value
    content: bool = False


def _same(value: Any) -> Any:
    return value


FIELDS: tuple[AssetField, ...] = (
    AssetField("title", _same, lambda d: d["title"], content=True),
    AssetField("cover", _same, lambda d: d.get("cover"), content=True),
    AssetField("description", _same, lambda d: d.get("description", ""), content=True),
    AssetField(
        "categories", sorted, lambda d: tuple(sorted(d.get("categories", ()))), content=True
    ),
    AssetField(
        "visibility",
        lambda v: v.to_json(),
        lambda d: Visibility.from_json(d.get("visibility", "only_me")),
    ),
    AssetField(
        "duration_limit",
        lambda v: v.to_json(),
        lambda d: DurationLimit.from_json(d.get("duration_limit")),
    ),
    AssetField("status", lambda v: v._value_, lambda d: Status.of(d.get("status", "released"))),
)
# Every field of the canonical form but versions (which come last), in its order.
ASSET_FIELDS = tuple(f.name for f in FIELDS)
# Asset fields a plain update may change, in the order plans show them.
CONTENT_FIELDS = tuple(f.name for f in FIELDS if f.content)
# An asset's state: every field and its versions (not its id, publisher or revision).
_state = attrgetter(*ASSET_FIELDS, "versions")


# Of the state digest's form: a digest kept by an older form never matches a new one's, so
# a change of the canonical form costs one full read, never a wrong match.
_DIGEST_FORMAT = b"gallery-state-1"


@dataclass(frozen=True, slots=True)
class Asset:
    """One model asset; `cover` is the sha256 of the cover image, `revision` the gallery's."""

    id: str
    publisher: str
    title: str
    versions: tuple[Version, ...]
    cover: str | None = None
    description: str = ""
    categories: tuple[str, ...] = ()
    visibility: Visibility = _ONLY_ME  # immutable values: one shared default is safe
    duration_limit: DurationLimit = _UNLIMITED
    status: Status = Status.RELEASED
    revision: int = 0

    def version(self, number: str) -> Version | None:
        for v in self.versions:
            if v.version == number:
                return v
        return None

    def same_state(self, other: Asset) -> bool:
        """`self.to_json() == other.to_json()`, without building either in the common case."""
        return _state(self) == _state(other) or self.to_json() == other.to_json()

    def state_digest(self) -> str:
        """A digest of the asset's owner and state (every field but its id and revision): two
        assets of one digest are the same state (same_state) of one publisher's. Stores keep
        it with each asset they write, so that a plan reads only digests of the assets it
        would not change (see GalleryState.completed).

        Made of the fields as they are, not of the canonical form (3 us an asset, not 10):
        two forms of one state (versions in another order, users of another set order) are
        put in one order here; one this misses (a duration limit's auto_renew where days is
        unlimited) only makes the asset read whole."""
        visibility, limit = self.visibility, self.duration_limit
        fields = orjson.dumps(
            (
                self.publisher,
                self.title,
                self.cover,
                self.description,
                sorted(self.categories),
                visibility.level,
                sorted(visibility.users),
                limit.days,
                limit.auto_renew,
                self.status,
                sorted(self.versions),  # by number first: each number is there once
            ),
            default=tuple,  # the versions: named tuples, which orjson leaves to `default`
        )
        return hashlib.blake2b(fields, digest_size=16, person=_DIGEST_FORMAT).hexdigest()

    def at_revision(self, revision: int) -> Asset:
        """This asset as a gallery holds it at `revision`."""
        return Asset(
            self.id,
            self.publisher,
            self.title,
            self.versions,
            self.cover,
            self.description,
            self.categories,
            self.visibility,
            self.duration_limit,
            self.status,
            revision,
        )

    @property
    def released_versions(self) -> list[Version]:
        return [v for v in self.versions if v.status is Status.RELEASED]

    def to_json(self) -> dict[str, Any]:
        """The canonical form: what diffs compare, plans carry and stores keep."""
        # FIELDS' `dump`s, written out (a test holds them equal): every new asset of a plan is
        # made its canonical form, 2.5 us, not 3.9.
        return {
            "title": self.title,
            "cover": self.cover,
            "description": self.description,
            "categories": sorted(self.categories),
            "visibility": self.visibility.to_json(),
            "duration_limit": self.duration_limit.to_json(),
            "status": self.status._value_,
            "versions": {
                v.version: {
                    "region": v.region,
                    "ai_application": v.ai_application,
                    "description": v.description,
                    "status": v.status._value_,
                }
                for v in sorted(self.versions, key=Version.order)
            },
        }

    @classmethod
    def from_json(
        cls, asset_id: str, publisher: str, data: Mapping[str, Any], *, revision: int = 0
    ) -> Asset:
        # Versions first, then the fields (from_parts), as the field table loads them: a
        # malformed value fails the same way.
        versions = tuple(
            [
                Version(
                    number,
                    v["region"],
                    v["ai_application"],
                    v.get("description", ""),
                    Status.of(v.get("status", "released")),
                )
                for number, v in data.get("versions", {}).items()
            ]
        )
        return cls.from_parts(asset_id, publisher, data, versions, revision=revision)

    @classmethod
    def from_parts(
        cls,
        asset_id: str,
        publisher: str,
        data: Mapping[str, Any],
        versions: tuple[Version, ...],
        *,
        revision: int = 0,
    ) -> Asset:
        """The asset of `data`'s fields (its versions, if any, not read) and `versions`."""
        # FIELDS' `load`s, written out (a test holds them equal): 10 us an asset, not 15, for
        # every asset a config declares and every create the gallery checks.
        get = data.get
        return cls(
            asset_id,
            publisher,
            data["title"],
            versions,
            get("cover"),
            get("description", ""),
            tuple(sorted(get("categories", ()))),
            Visibility.from_json(get("visibility", "only_me")),
            DurationLimit.from_json(get("duration_limit")),
            Status.of(get("status", "released")),
            revision,
        )


class OpKind(str, enum.Enum):
    """What one write does to an asset; definition order is the apply order of SPEC section 5."""

    CREATE = "create"
    RELEASE = "release"
    UPDATE_FIELDS = "update-fields"
    SET_VISIBILITY = "set-visibility"
    SET_DURATION = "set-duration"
    ADD_VERSION = "add-version"
    SET_VERSION_DESCRIPTION = "set-version-description"
    DISCONTINUE_VERSION = "discontinue-version"
    DISCONTINUE = "discontinue"

    @property
    def rank(self) -> int:
        return list(OpKind).index(self)


@dataclass(frozen=True, slots=True)
class Operation:
    """One write to one asset. `value` is JSON: the asset (create), the fields (update), ..."""

    kind: OpKind
    version: str | None = None
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind._value_, "version": self.version, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Operation:
        return cls(OpKind(data["kind"]), data.get("version"), data.get("value"))


def apply_operation(asset: Asset | None, op: Operation, *, asset_id: str, publisher: str) -> Asset:
    """The state after one operation. Mechanical only: whether it is allowed is `rules`' job."""
    if op.kind is OpKind.CREATE:
        return Asset.from_json(asset_id, publisher, op.value)
    if asset is None:
        raise KeyError(asset_id)
    kind = op.kind
    if kind is OpKind.RELEASE:
        return replace(asset, status=Status.RELEASED)
    if kind is OpKind.DISCONTINUE:
        return replace(asset, status=Status.DISCONTINUED)
    if kind is OpKind.UPDATE_FIELDS:
        data = asset.to_json() | dict(op.value)
        return Asset.from_json(asset.id, asset.publisher, data, revision=asset.revision)
    if kind is OpKind.SET_VISIBILITY:
        return replace(asset, visibility=Visibility.from_json(op.value))
    if kind is OpKind.SET_DURATION:
        return replace(asset, duration_limit=DurationLimit.from_json(op.value))
    if kind is OpKind.ADD_VERSION:
        assert op.version is not None
        # A version number already present is overwritten, so that the rules see (and refuse)
        # the real transition: a changed source, or a discontinued version coming back.
        added = Version.from_json(op.version, op.value)
        kept = tuple(v for v in asset.versions if v.version != op.version)
        return replace(asset, versions=(*kept, added))
    number = op.version
    versions = []
    for v in asset.versions:
        if v.version == number:
            if kind is OpKind.SET_VERSION_DESCRIPTION:
                v = v._replace(description=op.value)
            elif kind is OpKind.DISCONTINUE_VERSION:
                v = v._replace(status=Status.DISCONTINUED)
        versions.append(v)
    return replace(asset, versions=tuple(versions))


class Application(NamedTuple):
    """A trained model ("AI application") in a region; `image` set for container images.

    A named tuple, not a frozen dataclass: a catalog holds tens of thousands, built on every
    read, and a tuple is made ~4x faster.
    """

    name: str
    region: str
    image: str | None = None


_NO_APPLICATION: Any = object()


class Applications(Mapping[tuple[str, str], Application]):
    """Applications by (region, name), each kept as its image alone (None for a model): a
    plan adding 125,000 versions looks up as many, and an Application apiece was 10 MiB of
    its peak. One is made when asked for, equal to the one stored."""

    __slots__ = ("_images",)

    def __init__(self, images: dict[tuple[str, str], str | None]) -> None:
        self._images = images

    def __getitem__(self, key: tuple[str, str]) -> Application:
        return Application(key[1], key[0], self._images[key])

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        image = self._images.get(key, _NO_APPLICATION)
        return default if image is _NO_APPLICATION else Application(key[1], key[0], image)

    def __contains__(self, key: object) -> bool:
        return key in self._images

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._images)

    def __len__(self) -> int:
        return len(self._images)

    def with_images(self) -> dict[tuple[str, str], str]:
        """The image of each that runs one."""
        return {key: image for key, image in self._images.items() if image is not None}


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the gallery knows besides assets: taxonomy, agreements, applications, image policy."""

    categories: frozenset[str]
    agreements: frozenset[str]
    applications: Mapping[tuple[str, str], Application]
    allowed_registries: tuple[str, ...] = ()

    def application(self, region: str, name: str) -> Application | None:
        return self.applications.get((region, name))


@dataclass(frozen=True, slots=True)
class SubscriberSummary:
    """What discontinuing an asset does to people: how many subscribers keep access (their
    terms running), and until when the last term runs (None: one never ends)."""

    count: int = 0
    last_end: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "last_end": self.last_end}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubscriberSummary:
        return cls(int(data["count"]), data["last_end"])


@dataclass(frozen=True, slots=True)
class GalleryState:
    """The assets a gallery holds, by id (any publisher: ownership is checked by the rules)."""

    assets: Mapping[str, Asset]

    def completed(self, unchanged: Mapping[str, int], same_as: Mapping[str, Asset]) -> GalleryState:
        """With the assets a gallery found the same state as `same_as` (their state digests
        were the same), by id and the revision it holds each at."""
        if not unchanged:
            return self
        return GalleryState(
            {**self.assets, **{i: same_as[i].at_revision(r) for i, r in unchanged.items()}}
        )
