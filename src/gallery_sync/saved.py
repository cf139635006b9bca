"""Saved plans: write a plan file, read one back as the untrusted input it is, and refuse it
whole if it is damaged, edited, for another gallery, or if the gallery moved since."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from gallery_sync.diagnostics import Diagnostic, Place
from gallery_sync.diff import Change, ChangeOp
from gallery_sync.errors import GalleryRefusal, GallerySyncError
from gallery_sync.files import FileRefused, read_regular
from gallery_sync.gallery import Gallery
from gallery_sync.model import (
    CONTENT_FIELDS,
    Asset,
    GalleryState,
    Operation,
    OpKind,
    Status,
    Version,
)
from gallery_sync.plan import (
    FIELD_OPERATIONS,
    FORMAT_VERSION,
    Action,
    AssetPlan,
    NewOperations,
    Plan,
    PlannedChange,
    content_hash,
    field_digests,
    plan_asset,
)

# A saved plan holds each written value once (in compact JSON, one asset a line): a
# 10,000-asset plan of new assets is 0.9x-1.15x its config. 1 GiB holds plans of configs well past
# what the tool is built for while still refusing /dev/zero, a runaway file or a memory bomb
# before it is parsed.
PLAN_FILE_LIMIT = 1 << 30
_SHOWN_PROBLEMS = 10  # schema violations named in the refusal; the rest are counted
_HASH_LENGTH = 64
SAVED_FORM = "saved"  # the `form` of a saved plan file; `plan --format json` has none


def write_plan_file(plan: Plan, path: Path) -> None:
    """Write atomically: a reader never sees half a plan file, and a failed write (disk full,
    file size limit, no permission, a value JSON cannot hold) leaves neither the file nor a
    temporary one behind."""
    from gallery_sync.render.escape import json_escaped

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # as any new file (mkstemp makes it 0600)
        with os.fdopen(fd, "wb") as out:
            for chunk in saved_chunks(plan):
                # C1, bidi, ... as \u escapes: inert in `cat`, the same JSON values. Most
                # assets' JSON is ASCII without DEL, which holds none: written as it is (the
                # escape costs ~6 us an asset, 0.6 s of a 100,000-asset plan --out).
                if chunk.isascii() and b"\x7f" not in chunk:
                    out.write(chunk)
                else:
                    out.write(json_escaped(chunk.decode()).encode())
        os.replace(tmp, path)
    except (OSError, orjson.JSONEncodeError) as exc:  # encode: e.g. a lone surrogate in a value
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, orjson.JSONEncodeError):
            raise GallerySyncError(f"cannot write the plan to {path}: {exc}") from exc
        raise GallerySyncError(
            f"cannot write the plan to {path}: {exc.strerror or exc}; nothing was saved"
        ) from exc


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: set it straight back
    os.umask(mask)
    return mask


def saved_chunks(plan: Plan) -> Iterator[bytes]:
    """A plan's saved form, piece by piece: the plan's JSON without its summary (counted again
    on load) and, per asset, only what cannot be derived: a new asset's changes are its create
    operation's value field by field; an existing asset's operations follow from its changes.
    Whatever does not derive so is kept as it is."""
    head = plan.head()
    del head["assets"], head["summary"]
    head = {"format_version": head.pop("format_version"), "form": SAVED_FORM, **head}
    head["plan_hash"] = plan.digest()
    yield orjson.dumps(head)[:-1] + b',"assets":['
    for i, asset in enumerate(plan.assets):
        yield (b",\n" if i else b"\n") + orjson.dumps(saved_entry(asset))
    yield b"\n]}\n"


def saved_entry(asset: AssetPlan) -> dict[str, Any]:
    """One asset of a saved plan: its JSON less the members `full_entry` derives again. A new
    asset is `{"id": …, "create": VALUE}`: its create operation's value without the fields at
    their defaults (its action, revision and changes follow from it)."""
    operations = asset.operations
    if isinstance(operations, NewOperations) and asset.action is Action.CREATE:
        return _created_entry(asset, operations)
    entry = asset.to_json()
    del entry["risk"]  # of its changes
    if _creates(entry) and entry["action"] == "create" and entry["revision"] is None:
        value = entry["operations"][0]["value"]
        del entry["action"], entry["revision"], entry["changes"], entry["operations"]
        entry["create"] = _without_defaults(value)
    elif _creates(entry):
        del entry["changes"]
    elif asset.changes and operations_of(c.change for c in asset.changes) == list(asset.operations):
        del entry["operations"]
    for name, empty in _DEFAULTS.items():
        if name in entry and entry[name] == empty:
            del entry[name]
    return entry


def _created_entry(asset: AssetPlan, create: NewOperations) -> dict[str, Any]:
    """`saved_entry` of a plan's new asset, the same members in the same order, without
    building the changes it leaves out: a big first plan saves 10,000s."""
    entry: dict[str, Any] = {"id": asset.id}
    if asset.refused:
        entry["refused"] = True
    if asset.read:
        entry["read"] = dict(asset.read)
    if asset.subscribers is not None:
        entry["subscribers"] = asset.subscribers.to_json()
    entry["create"] = _without_defaults(create.value)
    return entry


_DEFAULTS: dict[str, Any] = {"changes": [], "operations": [], "refused": False, "read": {}}


def full_entry(entry: dict[str, Any], publisher: str) -> dict[str, Any]:
    """An asset of a saved plan as `plan --format json` has it (less its risk, a property)."""
    if "create" in entry:
        entry = dict(entry)
        value = Asset.from_json(entry["id"], publisher, entry.pop("create")).to_json()
        entry |= {"action": "create", "revision": None}
        entry["operations"] = [{"kind": OpKind.CREATE.value, "version": None, "value": value}]
    full = {**_DEFAULTS, **entry}
    if "changes" not in entry and _creates(entry):
        asset = Asset.from_json(entry["id"], publisher, entry["operations"][0]["value"])
        full["changes"] = [c.to_json() for c in plan_asset(None, asset).changes]
    elif "operations" not in entry:
        changes = (PlannedChange.from_json(c).change for c in full["changes"])
        full["operations"] = [op.to_json() for op in operations_of(changes)]
    return full


# A new asset's fields, and its versions', that a saved plan leaves out at these values: the
# canonical form of an asset (and a version) given only what has no default.
_ASSET_DEFAULTS = {
    k: v
    for k, v in Asset.from_json("", "", {"title": ""}).to_json().items()
    if k not in ("title", "versions")
}
_VERSION_DEFAULTS = {
    k: v
    for k, v in Version.from_json("", {"region": "", "ai_application": ""}).to_json().items()
    if k not in ("region", "ai_application")
}
_NO_DEFAULT = object()


def _without_defaults(value: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in value.items() if _ASSET_DEFAULTS.get(k, _NO_DEFAULT) != v}
    out["versions"] = {
        number: {k: v for k, v in body.items() if _VERSION_DEFAULTS.get(k, _NO_DEFAULT) != v}
        for number, body in value["versions"].items()
    }
    return out


def _creates(entry: dict[str, Any]) -> bool:
    ops = entry.get("operations", ())
    return len(ops) == 1 and ops[0]["kind"] == OpKind.CREATE.value


def operations_of(changes: Iterable[Change]) -> list[Operation]:
    """The writes that carry out an existing asset's changes: `derive_operations`' writes, in
    its order, read from the changes instead of from the two states."""
    fields: dict[str, Any] = {}
    first: list[Operation] = []
    setters: list[Operation] = []
    added: list[Operation] = []
    described: list[Operation] = []
    dropped: list[Operation] = []
    last: list[Operation] = []
    released, discontinued = Status.RELEASED.value, Status.DISCONTINUED.value
    for change in changes:
        name, before, after = change.path[0], change.before, change.after
        if name == "status":
            if before == discontinued and after == released:
                first.append(Operation(OpKind.RELEASE))
            elif before == released and after == discontinued:
                last.append(Operation(OpKind.DISCONTINUE))
        elif name in CONTENT_FIELDS:
            fields[name] = after
        elif name in FIELD_OPERATIONS:
            setters.append(Operation(FIELD_OPERATIONS[name], value=after))
        elif name == "versions" and change.op is ChangeOp.ADD:
            added.append(Operation(OpKind.ADD_VERSION, change.path[1], after))
        elif name == "versions" and change.op is ChangeOp.CHANGE:
            number = change.path[1]
            if len(change.path) == 2:  # a whole version, as deepdiff may report one
                if not isinstance(before, dict) or not isinstance(after, dict):
                    continue
                pairs = {k: (before[k], after[k]) for k in ("description", "status")}
            else:
                pairs = {change.path[2]: (before, after)}
            was, now = pairs.get("description", (None, None))
            if was != now:
                described.append(Operation(OpKind.SET_VERSION_DESCRIPTION, number, now))
            if pairs.get("status") == (released, discontinued):
                dropped.append(Operation(OpKind.DISCONTINUE_VERSION, number))
    update = [Operation(OpKind.UPDATE_FIELDS, value=fields)] if fields else []
    return first + update + setters + added + described + dropped + last


def read_plan_file(path: Path) -> Plan:
    """The plan in `path`, or GalleryRefusal (plan-invalid) saying what is wrong with the file.

    Bounded read of a regular file; orjson's parse (depth-limited, so a deeply nested file is
    refused, never a RecursionError); the plan schema; the plan hash. Only then is a Plan built.
    """
    try:
        raw = read_regular(path, limit=PLAN_FILE_LIMIT, what="plan file")
    except FileRefused as exc:
        raise _invalid(path, str(exc), place=False) from None
    if not raw.strip():
        raise _invalid(path, f"plan file {path} is empty; `plan --out FILE` writes a plan")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        where = Place(str(path), exc.lineno or 1, exc.colno or 1)
        raise GalleryRefusal(
            [
                Diagnostic.of(
                    "plan-invalid",
                    f"plan file {path} is not a gallery-sync plan: not JSON ({exc.msg})",
                    place=where,
                )
            ]
        ) from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise _invalid(path, f"plan file {path} is not a gallery-sync plan (no format_version)")
    if data["format_version"] != FORMAT_VERSION:
        raise _invalid(
            path,
            f"plan file {path} has format_version {_quoted(data['format_version'])}; this "
            f"gallery-sync reads format_version {FORMAT_VERSION!r}. Plan again with this version",
        )
    saved = data.get("form") == SAVED_FORM
    problems = _schema_problems(data, saved=saved)
    if problems:
        raise _invalid(path, f"plan file {path} is damaged: {problems}")
    claimed = data.pop("plan_hash")
    if not saved and content_hash(data) != claimed:
        raise _edited(path, claimed)
    try:
        if saved:  # the plan hash is of the whole plan, as `plan --format json` shows it
            data["assets"] = [full_entry(a, data["publisher"]) for a in data["assets"]]
        plan = Plan.from_json(data)
    except (KeyError, TypeError, ValueError):  # schema-valid, yet no plan gallery-sync makes
        plan = None
    if plan is None or plan.digest() != claimed:
        if saved:
            raise _edited(path, claimed)
        # the file holds more, or other, than the plan it was made of
        raise _invalid(path, f"plan file {path} is not in the form gallery-sync writes")
    return plan


def _edited(path: Path, claimed: str) -> GalleryRefusal:
    return _invalid(
        path,
        f"plan file {path} does not match its plan_hash {claimed[:12]}…: it was changed "
        "after it was made. Nothing was applied; plan again and review the new plan",
    )


def check_plan_hash(plan: Plan, path: Path, pinned: str) -> None:
    """`apply FILE --plan-hash H`: only the plan a reviewer saw. The whole hash, never a prefix:
    a prefix short enough to type is short enough to forge a matching plan for."""
    wanted = pinned.strip().lower()
    if len(wanted) != _HASH_LENGTH or any(c not in "0123456789abcdef" for c in wanted):
        raise _invalid(
            path,
            f"--plan-hash {_quoted(pinned)} is not a plan hash: give all 64 hex digits, as "
            "`plan` prints them",
            place=False,
        )
    actual = plan.digest()
    if actual != wanted:
        raise _invalid(
            path,
            f"plan file {path} has plan hash {actual}, not {wanted} as --plan-hash requires; "
            "nothing was applied",
            place=False,
        )


def canonical_gallery(url: str) -> str:
    """A gallery URL as plans record it: an SQLite file by its absolute, resolved path (so that
    a relative URL and an absolute one naming the same file are the same gallery)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and len(url) > len(prefix):
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url.rstrip("/")


def load_saved_plan(
    path: Path,
    open_gallery: Callable[[str, str], Gallery],
    gallery_url: str | None,
    *,
    plan_hash: str | None = None,
) -> tuple[Plan, Gallery]:
    """The plan and its gallery, checked before the gallery is read: intact, the pinned one,
    without errors, for this gallery; then nothing it touches moved. The gallery is opened
    as `open_gallery(plan.gallery, plan.publisher)`: the plan's publisher is who writes."""
    plan = read_plan_file(path)
    if plan_hash is not None:
        check_plan_hash(plan, path, plan_hash)
    if plan.has_errors:
        raise _invalid(path, f"plan file {path} has errors; fix them and plan again")
    if gallery_url and canonical_gallery(gallery_url) != canonical_gallery(plan.gallery):
        raise _invalid(
            path,
            f"plan file {path} was made for gallery {plan.gallery}, not {gallery_url}; "
            "plan again against this gallery",
            place=False,
        )
    gallery = open_gallery(plan.gallery, plan.publisher)
    stale = stale_assets(plan, gallery.read_state([a.id for a in plan.changed]))
    if stale:
        raise GalleryRefusal(stale)
    return plan, gallery


def stale_assets(plan: Plan, state: GalleryState) -> list[Diagnostic]:
    """A stale-plan diagnostic for every asset the plan touches that changed since it was made."""
    found = []
    for asset in plan.changed:
        current = state.assets.get(asset.id)
        now = current.revision if current else None
        if now == asset.revision:
            continue
        if asset.revision is None:
            what = f"it was created meanwhile (now at revision {now})"
        elif current is None:
            what = "it no longer exists"
        else:
            what = f"revision {asset.revision} -> {now} ({what_changed(asset, current)})"
        found.append(
            Diagnostic.of(
                "stale-plan",
                f"asset {asset.id!r} changed in the gallery since the plan was made: {what}. "
                "Nothing was applied; run plan again and review the new plan",
                asset=asset.id,
            )
        )
    return found


def what_changed(planned: AssetPlan, current: Asset) -> str:
    """Every field of the asset that differs from what the plan read, e.g. `description,
    duration_limit changed; versions[1.1.0] added`."""
    now = field_digests(current)
    read = planned.read
    changed = [name for name, digest in now.items() if name in read and read[name] != digest]
    added = [name for name in now if name not in read]
    parts = []
    if changed:
        parts.append(f"{', '.join(changed)} changed")
    if added:
        parts.append(f"{', '.join(added)} added")
    return "; ".join(parts) or "written meanwhile, though no field differs from what was read"


def _schema_problems(data: dict[str, Any], *, saved: bool) -> str:
    errors = list(_plan_validator(saved).iter_errors(data))
    if not errors:
        return ""
    shown = [
        f"{_json_path(list(e.instance_path))}: {_cut(e.message, 160)}"
        for e in errors[:_SHOWN_PROBLEMS]
    ]
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


@cache
def _plan_validator(saved: bool) -> Any:
    """The plan schema; for a saved plan, its `savedPlan` definition (the same document, so
    that the two forms share every definition)."""
    import jsonschema_rs

    text = resources.files("gallery_sync").joinpath("schemas/plan.schema.json").read_bytes()
    schema = orjson.loads(text)
    if saved:
        # Its own members are the root's (it refers to them), but for assets.
        for keyword in ("type", "required", "additionalProperties"):
            del schema[keyword]
        del schema["properties"]["assets"]
        schema["$ref"] = "#/$defs/savedPlan"
    return jsonschema_rs.validator_for(schema)


def _json_path(parts: list[str | int]) -> str:
    out = "plan"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return _cut(out, 120)


def _cut(text: str, limit: int) -> str:
    """Text from (or about) the file, cut: a hostile file must not flood the message."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} chars)"


def _quoted(value: object) -> str:
    return _cut(repr(value), 40)


def _invalid(path: Path, message: str, *, place: bool = True) -> GalleryRefusal:
    where = Place(str(path), 1, 1) if place else None
    return GalleryRefusal([Diagnostic.of("plan-invalid", message, place=where)])
