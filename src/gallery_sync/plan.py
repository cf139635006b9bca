"""PURE: desired vs gallery state -> an ordered Plan with risk classes; plan files as JSON."""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import orjson

from gallery_sync import rules
from gallery_sync.diagnostics import Diagnostic, Place, Severity, has_errors, sort_diagnostics
from gallery_sync.diff import FIELD_PATHS, Change, ChangeOp, diff_asset, diff_new
from gallery_sync.model import (
    CONTENT_FIELDS,
    Asset,
    Catalog,
    GalleryState,
    Operation,
    OpKind,
    Status,
    SubscriberSummary,
    Version,
    Visibility,
    VisibilityLevel,
)

FORMAT_VERSION = "1"


class Action(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DISCONTINUE = "discontinue"
    RELEASE = "release"
    NOOP = "no-op"
    UNMANAGED = "unmanaged"


class Risk(str, enum.Enum):
    IRREVERSIBLE = "irreversible"
    REVERSIBLE = "reversible"


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """A field change with its risk class and, when irreversible, why."""

    change: Change
    risk: Risk = Risk.REVERSIBLE
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        # `_value_`, not `.value`: the enum property costs ~0.3 us, a new asset has a dozen
        # changes and a plan is hashed whole.
        change = self.change
        path = change.path
        return {
            "field": path[0] if len(path) == 1 else change.field,
            "op": change.op._value_,
            "before": change.before,
            "after": change.after,
            "risk": self.risk._value_,
            "why": self.why or None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannedChange:
        return cls(
            Change(ChangeOp(data["op"]), _field_path(data["field"]), data["before"], data["after"]),
            Risk(data["risk"]),
            data.get("why") or "",
        )


class NewOperations(Sequence[Operation]):
    """A new asset's one operation, its create, whose value (the asset's canonical form) is
    built from the Asset each time it is asked for rather than held: a plan is hashed, shown
    and saved asset by asset, and the values of all were the plan's largest part (~1.6 KB a
    new asset of 5 versions, 1.1 KB of one: 33 MiB of a plan of 30,000 small new assets, 10x
    their config). Equal to the tuple of that operation."""

    __slots__ = ("asset",)

    def __init__(self, asset: Asset) -> None:
        self.asset = asset

    @property
    def value(self) -> dict[str, Any]:
        return self.asset.to_json()

    def _create(self) -> Operation:
        return Operation(OpKind.CREATE, value=self.asset.to_json())

    def __iter__(self) -> Iterator[Operation]:
        return iter((self._create(),))

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: Any) -> Any:
        return (self._create(),)[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return (self._create(),) == tuple(other)

    def __hash__(self) -> int:
        return hash((self._create(),))

    def __repr__(self) -> str:
        return repr((self._create(),))


class NewChanges(Sequence[PlannedChange]):
    """A new asset's changes, derived from its create operation's value each time they are
    asked for rather than held: 12 Change and 12 PlannedChange objects per asset are ~19 MiB
    of a plan of 10,000 new assets (1/3 of the all-new plan's memory past its config), and a
    plan is shown, hashed and saved by iterating them once or twice. Equal to the tuple of
    the changes it stands for; its JSON, risk and irreversible changes come straight from
    the value, with no object per change."""

    __slots__ = ("create",)

    def __init__(self, create: NewOperations) -> None:
        self.create = create

    @property
    def value(self) -> dict[str, Any]:
        return self.create.value

    def _all(self) -> tuple[PlannedChange, ...]:
        return tuple(map(_classify_new, diff_new(self.value)))

    def __iter__(self) -> Iterator[PlannedChange]:
        return iter(self._all())

    def __len__(self) -> int:
        value = self.value
        return sum(v is not None for k, v in value.items() if k != "versions") + len(
            value["versions"]
        )

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return self._all() == tuple(other)

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())

    def irreversible(self) -> list[PlannedChange]:
        """The irreversible changes (every version, a widened visibility), only those built."""
        value = self.value
        visibility = _new_visibility(value)
        widened = visibility is not None and visibility.risk is Risk.IRREVERSIBLE
        out = [visibility] if widened and visibility is not None else []
        out += [
            PlannedChange(
                Change(ChangeOp.ADD, ("versions", n), None, v), Risk.IRREVERSIBLE, VERSION_IS_FINAL
            )
            for n, v in value["versions"].items()
        ]
        return out

    def irreversible_count(self) -> int:
        """`len(self.irreversible())`, from the Asset: every version, and a visibility other
        than the default (`_classify` of a new asset's)."""
        asset = self.create.asset
        return len(asset.versions) + (asset.visibility.level is not VisibilityLevel.ONLY_ME)

    @property
    def risk(self) -> Risk:
        return Risk.IRREVERSIBLE if self.irreversible_count() else Risk.REVERSIBLE

    def to_json(self) -> list[dict[str, Any]]:
        """`[c.to_json() for c in self]`, ~4x faster: a plan is hashed whole."""
        return self.json_of(self.value)

    @staticmethod
    def json_of(asset_value: dict[str, Any]) -> list[dict[str, Any]]:
        """The changes' JSON of a new asset of this canonical form."""
        out = []
        visibility = _new_visibility(asset_value)
        add = ChangeOp.ADD._value_
        for name, value in asset_value.items():
            if name == "versions" or value is None:
                continue
            if name == "visibility" and visibility is not None:
                out.append(visibility.to_json())
                continue
            out.append(
                {
                    "field": name,
                    "op": add,
                    "before": None,
                    "after": value,
                    "risk": _REVERSIBLE,
                    "why": None,
                }
            )
        out += [
            {
                "field": f"versions[{number}]",
                "op": add,
                "before": None,
                "after": body,
                "risk": _IRREVERSIBLE,
                "why": VERSION_IS_FINAL,
            }
            for number, body in asset_value["versions"].items()
        ]
        return out


def _new_visibility(value: dict[str, Any]) -> PlannedChange | None:
    """The visibility change of a new asset of this canonical form, classified."""
    after = value.get("visibility")
    if after is None:
        return None
    return _classify_new(Change(ChangeOp.ADD, FIELD_PATHS["visibility"], None, after))


_REVERSIBLE, _IRREVERSIBLE = Risk.REVERSIBLE._value_, Risk.IRREVERSIBLE._value_
_CREATE = OpKind.CREATE._value_


def irreversible_count(asset: AssetPlan) -> int:
    """How many of an asset's changes are irreversible, a new asset's counted, not built."""
    changes = asset.changes
    if isinstance(changes, NewChanges):
        return changes.irreversible_count()
    return sum(c.risk is Risk.IRREVERSIBLE for c in changes)


def irreversible_changes(asset: AssetPlan) -> list[PlannedChange]:
    """An asset's irreversible changes (a new asset's without building its others)."""
    changes = asset.changes
    if isinstance(changes, NewChanges):
        return changes.irreversible()
    return [c for c in changes if c.risk is Risk.IRREVERSIBLE]


# What a plan that read nothing of an asset (a create, a no-op) records: one shared, empty
# and read-only, not a dict per asset.
_NOTHING_READ: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AssetPlan:
    """What the plan does to one asset: its action, changes, and the writes that carry them out."""

    id: str
    action: Action
    revision: int | None  # as read at plan time; None for an asset the gallery does not hold
    changes: Sequence[PlannedChange] = ()  # a tuple, or a new asset's NewChanges
    operations: Sequence[Operation] = ()  # a tuple, or a new asset's NewOperations
    # The rules refuse this asset's transition (its errors are among the plan's diagnostics):
    # its changes are shown as asked for and refused, and counted in no action or risk.
    refused: bool = False
    # What plan read of the asset it changes, field by field (see field_digests): enough for a
    # stale saved plan to name every field that moved, without carrying the whole asset.
    read: Mapping[str, str] = field(default_factory=lambda: _NOTHING_READ)
    # A discontinue's effect on people (SPEC section 7), as the gallery told plan; only a
    # discontinue has it, so a plan file without one hashes as it always did.
    subscribers: SubscriberSummary | None = None

    @property
    def risk(self) -> Risk:
        if self.refused:  # nothing of it is written: it risks nothing
            return Risk.REVERSIBLE
        return Risk.IRREVERSIBLE if irreversible_count(self) else Risk.REVERSIBLE

    def to_json(self) -> dict[str, Any]:
        changes, operations = self.changes, self.operations
        if isinstance(changes, NewChanges) and changes.create is operations:
            # A new asset's canonical form, built once for its changes and its create.
            value = operations.value
            changes_json = NewChanges.json_of(value)
            operations_json = [{"kind": _CREATE, "version": None, "value": value}]
        else:
            changes_json = [c.to_json() for c in changes]
            operations_json = [op.to_json() for op in operations]
        out = {
            "id": self.id,
            "action": self.action._value_,
            "risk": self.risk._value_,
            "revision": self.revision,
            "changes": changes_json,
            "operations": operations_json,
            "refused": self.refused,
            "read": dict(self.read),
        }
        if self.subscribers is not None:
            out["subscribers"] = self.subscribers.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AssetPlan:
        return cls(
            data["id"],
            Action(data["action"]),
            data["revision"],
            tuple(PlannedChange.from_json(c) for c in data.get("changes", ())),
            tuple(Operation.from_json(o) for o in data.get("operations", ())),
            bool(data.get("refused", False)),
            dict(data.get("read", {})),
            SubscriberSummary.from_json(data["subscribers"]) if "subscribers" in data else None,
        )


SUMMARY_KEYS = ("create", "update", "discontinue", "release", "no-op", "unmanaged")


@dataclass(frozen=True, slots=True)
class Plan:
    publisher: str
    gallery: str
    assets: tuple[AssetPlan, ...]
    diagnostics: tuple[Diagnostic, ...]
    config_hash: str = ""
    accepted_agreements: tuple[str, ...] = ()
    covers: dict[str, str] = field(default_factory=dict)  # sha256 -> path of the image file
    # The plan hash, once computed: every format shows it and apply records it, and a
    # 10,000-asset plan takes ~0.2 s to hash. A frozen plan's hash never changes.
    _digest: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def has_errors(self) -> bool:
        return has_errors(list(self.diagnostics))

    @property
    def changed(self) -> list[AssetPlan]:
        """The assets apply would write: with operations, and not refused by the rules."""
        return [a for a in self.assets if a.operations and not a.refused]

    @property
    def has_changes(self) -> bool:
        return bool(self.changed)

    def summary(self) -> dict[str, int]:
        counts = Counter(a.action.value for a in self.assets if not a.refused)
        out = {key: counts.get(key, 0) for key in SUMMARY_KEYS}
        out["errors"] = sum(d.severity is Severity.ERROR for d in self.diagnostics)
        out["warnings"] = sum(d.severity is Severity.WARNING for d in self.diagnostics)
        return out

    def irreversible(self) -> list[tuple[AssetPlan, PlannedChange]]:
        return [(a, c) for a in self.assets if not a.refused for c in irreversible_changes(a)]

    def digest(self) -> str:
        """The plan hash: sha256 of everything a plan file holds but the hash itself (what apply
        reads and what a reviewer saw); its identity in the audit log.

        Hashed asset by asset, the same bytes as `content_hash` of the whole JSON: a plan of
        100,000 new assets never holds its JSON form all at once (~2 GB of dicts)."""
        if not self._digest:
            before, _, after = orjson.dumps(self.head(), option=orjson.OPT_SORT_KEYS).partition(
                _NO_ASSETS
            )
            sha = hashlib.sha256(before + b'"assets":[')
            for i, asset in enumerate(self.assets):
                sha.update(b"," if i else b"")
                sha.update(orjson.dumps(asset.to_json(), option=orjson.OPT_SORT_KEYS))
            sha.update(b"]" + after)
            self._digest.append(sha.hexdigest())
        return self._digest[0]

    def head(self) -> dict[str, Any]:
        """The plan's JSON with no assets (an empty list in their place) and no hash."""
        return self._body(assets=False)

    def to_json(self) -> dict[str, Any]:
        body = self._body()
        if not self._digest:
            self._digest.append(content_hash(body))
        return {**body, "plan_hash": self._digest[0]}

    def _body(self, *, assets: bool = True) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "publisher": self.publisher,
            "gallery": self.gallery,
            "config_hash": self.config_hash,
            "accepted_agreements": list(self.accepted_agreements),
            "covers": dict(sorted(self.covers.items())),
            "assets": [a.to_json() for a in self.assets] if assets else [],
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            publisher=data["publisher"],
            gallery=data["gallery"],
            assets=tuple(AssetPlan.from_json(a) for a in data["assets"]),
            diagnostics=tuple(Diagnostic.from_json(d) for d in data["diagnostics"]),
            config_hash=data.get("config_hash", ""),
            accepted_agreements=tuple(data.get("accepted_agreements", ())),
            covers=dict(data.get("covers", {})),
        )


# Where the assets go in a plan's compact JSON, keys sorted: a key, never a value (a string's
# quotes are escaped in JSON), and a plan's only member named so.
_NO_ASSETS = b'"assets":[]'


def content_hash(body: Mapping[str, Any]) -> str:
    """sha256 of a plan's content (a plan file's JSON without its `plan_hash`), key order and
    layout aside: the same for a plan and for the file it was saved to."""
    # orjson: ~9x json.dumps on the 10 MB of operations a 10,000-asset plan carries.
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def field_digests(asset: Asset) -> dict[str, str]:
    """A short digest of each field of an asset and of each of its versions (`versions[1.0.0]`):
    a saved plan's record of what it read, ~30 bytes a field. 64 bits tell a change apart; the
    plan hash, not these, guards against tampering."""
    return dict(read_record(asset))


class ReadRecord(Mapping[str, str]):
    """`field_digests` as a plan holds it: the digests packed in one bytes object (8 bytes a
    field), their names shared by every asset with the same version numbers. A dict of 12
    16-hex strings per asset was ~15 MiB of a plan that updates 10,000 assets."""

    __slots__ = ("_names", "_packed")

    def __init__(self, names: Mapping[str, int], packed: bytes) -> None:
        self._names = names  # name -> its digest's index in `packed`
        self._packed = packed

    def __getitem__(self, name: str) -> str:
        at = self._names[name] * 8
        return self._packed[at : at + 8].hex()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(dict(self))


# The names of a record by its asset's version numbers: most assets of a config share them.
_RECORD_NAMES: dict[tuple[str, ...], Mapping[str, int]] = {}


def read_record(asset: Asset) -> ReadRecord:
    """What a plan records of an asset it read (see field_digests)."""
    body = asset.to_json()
    versions = body.pop("versions")
    numbers = tuple(versions)
    names = _RECORD_NAMES.get(numbers)
    if names is None:
        named = (*body, *(f"versions[{n}]" for n in numbers))
        names = {name: i for i, name in enumerate(named)}
        if len(_RECORD_NAMES) < 4096:  # bounded: a config's assets may all differ
            _RECORD_NAMES[numbers] = names
    sha256, dumps, sort = hashlib.sha256, orjson.dumps, orjson.OPT_SORT_KEYS
    packed = b"".join(
        sha256(dumps(value, option=sort)).digest()[:8]
        for value in (*body.values(), *versions.values())
    )
    return ReadRecord(names, packed)


def new_applications(desired: Mapping[str, Asset], state: GalleryState) -> set[tuple[str, str]]:
    """The (region, name) of the applications the versions a plan adds name: the catalog look-ups
    its rules make. A plan that adds no version needs none of a catalog's thousands."""
    keys = set()
    for asset_id, asset in desired.items():
        current = state.assets.get(asset_id)
        if current is not None and current.versions == asset.versions:
            continue  # none is new (tuple equality, in C): most assets of most plans
        for v in asset.versions:
            if current is None or current.version(v.version) is None:
                keys.add((v.region, v.ai_application))
    return keys


# Where to point a finding: (asset id, version or None, field or None) -> file:line:col.
Locate = Callable[[str, "str | None", "str | None"], "Place | None"]


# (asset id, version, field) of many findings -> their places.
LocateAll = Callable[
    [Collection[tuple[str, "str | None", "str | None"]]], Mapping[Any, "Place | None"]
]


def _nowhere(asset_id: str, version: str | None, field: str | None) -> Place | None:
    return None


@dataclass(frozen=True, slots=True)
class Desired:
    """The desired state a plan is made for, in plain values: whoever has one (the CLI from
    its config files, a server, a reconciler) plans with it."""

    publisher: str
    assets: Mapping[str, Asset]
    accepted_agreements: frozenset[str] = frozenset()
    place: Locate = _nowhere
    # Or how to find it: a config's places cost a second read of its file, so only when asked.
    publisher_place: Place | Callable[[], Place | None] | None = None
    digest: str = ""  # of what the desired state was read from (a plan's config_hash)
    covers: Mapping[str, str] = field(default_factory=dict)  # sha256 -> image file, for upload
    # Or `place` for many findings at once (a config reads its files once for all of them).
    locate: LocateAll | None = None


def build_plan(
    wanted: Desired,
    state: GalleryState,
    catalog: Catalog,
    *,
    gallery: str,
    account: str | None = None,
    prune: bool = False,
    targets: frozenset[str] = frozenset(),
) -> Plan:
    """Diff the desired assets against the gallery, check every rule, order the writes."""
    publisher = wanted.publisher
    diagnostics: list[Diagnostic] = []
    if account is not None and account != publisher:
        diagnostics.append(
            Diagnostic.of(
                "publisher-mismatch",
                f"the gallery credentials belong to account {account!r}, but the file declares "
                f"publisher.account {publisher!r}; use {publisher!r}'s token, or fix the account",
                place=wanted.publisher_place()
                if callable(wanted.publisher_place)
                else wanted.publisher_place,
            )
        )
    ctx = rules.Context(catalog, publisher, wanted.accepted_agreements)
    plans: list[AssetPlan] = []
    found: list[tuple[str, rules.Violation]] = []
    for asset_id in sorted(wanted.assets):
        if targets and asset_id not in targets:
            continue
        desired = wanted.assets[asset_id]
        current = state.assets.get(asset_id)
        violations = rules.check_asset(current, desired, ctx)
        found += [(asset_id, v) for v in violations]
        if current is not None and current.publisher != publisher:
            continue
        planned = plan_asset(current, desired)
        if any(v.severity is Severity.ERROR for v in violations):
            planned = replace(planned, refused=True)
        plans.append(planned)
    diagnostics += _located(found, wanted)
    declared = set(wanted.assets)
    for asset_id in sorted(state.assets):
        current = state.assets[asset_id]
        if asset_id in declared or current.publisher != publisher:
            continue
        if targets and asset_id not in targets:
            continue
        plans.append(_plan_unmanaged(current, prune, diagnostics))
    return Plan(
        publisher=publisher,
        gallery=gallery,
        assets=tuple(plans),
        diagnostics=tuple(sort_diagnostics(diagnostics)),
        config_hash=wanted.digest,
        accepted_agreements=tuple(sorted(wanted.accepted_agreements)),
        covers=dict(wanted.covers),
    )


# only_me is also what a file that names no visibility asks for: said when the file wrote
# none (its place is the asset's own), or the refusal of a change nobody wrote is a puzzle.
NO_VISIBILITY_NOTE = (
    " (an asset that names no visibility is only_me, the default: write its visibility to keep it)"
)


def _located(found: list[tuple[str, rules.Violation]], wanted: Desired) -> list[Diagnostic]:
    """The findings as diagnostics at their places, asked for all at once where the desired
    state can (a config reads its files once for all of them, keeping only those places)."""
    queries: dict[tuple[str, str | None, str | None], None] = {}
    for asset_id, v in found:
        queries[asset_id, v.version, v.field] = None
        if _may_need_note(v):
            queries[asset_id, None, "visibility"] = queries[asset_id, None, None] = None
    where = wanted.locate(queries) if wanted.locate is not None and queries else {}

    def place(asset_id: str, version: str | None, field: str | None) -> Place | None:
        key = (asset_id, version, field)
        return where[key] if key in where else wanted.place(*key)

    out = []
    for asset_id, v in found:
        message = v.message
        if _may_need_note(v):
            written = place(asset_id, None, "visibility")
            if written is not None and written == place(asset_id, None, None):
                become = "cannot become only_me"
                message = message.replace(become, become + NO_VISIBILITY_NOTE, 1)
        out.append(
            Diagnostic(
                v.code,
                message,
                v.severity,
                place(asset_id, v.version, v.field),
                asset_id,
                v.version,
            )
        )
    return out


def _may_need_note(v: rules.Violation) -> bool:
    return v.code == "visibility-narrowing" and "cannot become only_me" in v.message


def _plan_unmanaged(current: Asset, prune: bool, diagnostics: list[Diagnostic]) -> AssetPlan:
    if prune:
        if current.status is Status.DISCONTINUED:
            return AssetPlan(current.id, Action.NOOP, current.revision)
        return plan_asset(current, replace(current, status=Status.DISCONTINUED))
    diagnostics.append(
        Diagnostic.of(
            "unmanaged-asset",
            f"asset {current.id!r} is in the gallery but in no file; it is left as it is. "
            "Declare it (gallery-sync import writes it out), or run with --prune to discontinue it",
            asset=current.id,
        )
    )
    return AssetPlan(current.id, Action.UNMANAGED, current.revision)


def plan_asset(current: Asset | None, desired: Asset) -> AssetPlan:
    """The action, risk-classed changes and ordered operations that take current to desired."""
    if current is not None and current.same_state(desired):
        return AssetPlan(desired.id, Action.NOOP, current.revision)  # the common case, cheaply
    if current is None:  # its create's value built when first asked for, its changes from it
        create = NewOperations(desired)
        return AssetPlan(desired.id, Action.CREATE, None, NewChanges(create), create)
    changes = tuple(_classify(c, current) for c in diff_asset(current, desired))
    operations = tuple(derive_operations(current, desired))
    revision = current.revision if current else None
    if current is None:
        action = Action.CREATE
    elif not operations:
        action = Action.NOOP
    elif current.status is Status.DISCONTINUED and desired.status is Status.RELEASED:
        action = Action.RELEASE
    elif current.status is Status.RELEASED and desired.status is Status.DISCONTINUED:
        action = Action.DISCONTINUE
    else:
        action = Action.UPDATE
    if not operations:
        return AssetPlan(desired.id, action, revision)
    return AssetPlan(desired.id, action, revision, changes, operations, read=read_record(current))


VERSION_IS_FINAL = "a published version can only be discontinued, never deleted"


def _classify_new(change: Change) -> PlannedChange:
    """`_classify(change, None)` for a change that creates an asset, without its tests for
    what only an update has: a new asset's plan has a dozen, a big first apply 10,000s."""
    path = change.path
    if path[0] == "versions":
        return PlannedChange(change, Risk.IRREVERSIBLE, VERSION_IS_FINAL)
    if path[0] == "visibility":
        return _classify(change, None)
    return PlannedChange(change)


def _classify(change: Change, current: Asset | None) -> PlannedChange:
    path = change.path
    if current is None and path == ("status",):
        return PlannedChange(change)
    if path[0] == "versions" and change.op is ChangeOp.ADD:
        return PlannedChange(change, Risk.IRREVERSIBLE, VERSION_IS_FINAL)
    if path == ("visibility",):
        after = Visibility.from_json(change.after)
        before = current.visibility if current else Visibility()
        if current is None and after == before:
            return PlannedChange(change)
        if after.level is VisibilityLevel.PUBLIC:
            return PlannedChange(
                change, Risk.IRREVERSIBLE, "public is final: it can never be narrowed"
            )
        return PlannedChange(
            change, Risk.IRREVERSIBLE, "visibility can never be narrowed back; users never removed"
        )
    if len(path) == 3 and path[2] == "status" and change.after == Status.DISCONTINUED.value:
        return PlannedChange(change, Risk.IRREVERSIBLE, "a discontinued version is final")
    return PlannedChange(change)


# The fields that are neither content (update-fields) nor status (release, discontinue): each
# has an operation of its own. Every field of model.FIELDS is one of the three.
FIELD_OPERATIONS = {"visibility": OpKind.SET_VISIBILITY, "duration_limit": OpKind.SET_DURATION}


def derive_operations(current: Asset | None, desired: Asset) -> list[Operation]:
    """The writes, in the order of SPEC section 5, that take current to desired."""
    if current is None:
        return [Operation(OpKind.CREATE, value=desired.to_json())]
    ops: list[Operation] = []
    if current.status is Status.DISCONTINUED and desired.status is Status.RELEASED:
        ops.append(Operation(OpKind.RELEASE))
    was, now = current.to_json(), desired.to_json()
    fields = {k: now[k] for k in CONTENT_FIELDS if was[k] != now[k]}
    if fields:
        ops.append(Operation(OpKind.UPDATE_FIELDS, value=fields))
    for name, kind in FIELD_OPERATIONS.items():
        if was[name] != now[name]:
            ops.append(Operation(kind, value=now[name]))
    old: dict[str, Version] = {v.version: v for v in current.versions}
    ordered = sorted(desired.versions, key=Version.order)
    ops += [
        Operation(OpKind.ADD_VERSION, v.version, v.to_json())
        for v in ordered
        if v.version not in old
    ]
    ops += [
        Operation(OpKind.SET_VERSION_DESCRIPTION, v.version, v.description)
        for v in ordered
        if v.version in old and old[v.version].description != v.description
    ]
    ops += [
        Operation(OpKind.DISCONTINUE_VERSION, v.version)
        for v in ordered
        if v.version in old
        and v.status is Status.DISCONTINUED
        and old[v.version].status is Status.RELEASED
    ]
    if current.status is Status.RELEASED and desired.status is Status.DISCONTINUED:
        ops.append(Operation(OpKind.DISCONTINUE))
    return ops


def _field_path(name: str) -> tuple[str, ...]:
    if name.startswith("versions["):
        number, _, rest = name[len("versions[") :].partition("]")
        return ("versions", number, *([rest[1:]] if rest else []))
    return (name,)
