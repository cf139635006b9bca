"""PURE: desired vs current asset -> Changes: == per field, deepdiff inside the versions map."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from gallery_sync.model import ASSET_FIELDS, Asset, version_key


class ChangeOp(str, enum.Enum):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class Change:
    """A differing field; path: ("title",), ("versions", "1.1.0"), ("versions", v, "status")."""

    op: ChangeOp
    path: tuple[str, ...]
    before: Any
    after: Any

    @property
    def field(self) -> str:
        if self.path[0] == "versions" and len(self.path) > 1:
            tail = f".{self.path[2]}" if len(self.path) > 2 else ""
            return f"versions[{self.path[1]}]{tail}"
        return self.path[0]

    @property
    def version(self) -> str | None:
        return self.path[1] if self.path[0] == "versions" and len(self.path) > 1 else None


def diff_asset(before: Asset | None, after: Asset) -> list[Change]:
    """Every field that differs, in canonical order. A new asset differs in every field."""
    new = after.to_json()
    if before is None:
        return diff_new(new)
    old = before.to_json()
    keys: list[tuple[str, ...]] = []
    for name, value in new.items():
        if old[name] == value:  # per field: most changes never reach deepdiff
            continue
        if name != "versions":
            keys.append((name,))  # a field changes as a whole: its path is the answer
        else:
            keys += _version_paths(old["versions"], value)
    return [_change(key, old, new) for key in sorted(keys, key=_order)]


# A field's path, one tuple shared by every change of it: a plan of 30,000 new assets
# would hold 200,000 copies of ("title",) and the like.
FIELD_PATHS = {name: (name,) for name in ASSET_FIELDS}


def diff_new(new: dict[str, Any]) -> list[Change]:
    """The changes that create an asset, from its canonical form: they share its values."""
    changes = [
        Change(ChangeOp.ADD, FIELD_PATHS.get(k) or (k,), None, v)
        for k, v in new.items()
        if k != "versions" and v is not None
    ]
    changes += [Change(ChangeOp.ADD, ("versions", n), None, v) for n, v in new["versions"].items()]
    return changes


def _version_paths(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, ...]]:
    """("versions", n) for an added or removed version, ("versions", n, field) for a change.

    Added and removed numbers come from the key sets; deepdiff (imported only then) compares
    just the versions present on both sides whose content differs.
    """
    keys: set[tuple[str, ...]] = {("versions", n) for n in old.keys() ^ new.keys()}
    changed = [n for n in old.keys() & new.keys() if old[n] != new[n]]
    if not changed:
        return keys
    from deepdiff import DeepDiff

    before, after = {n: old[n] for n in changed}, {n: new[n] for n in changed}
    for levels in DeepDiff(before, after, view="tree").values():
        for level in levels:
            path = [str(p) for p in level.path(output_format="list")]
            if not path:
                # deepdiff may report a dict whose every key changed as one value change.
                keys.update(("versions", n) for n in changed)
            else:
                keys.add(("versions", *path[:2]))
    return keys


def _change(key: tuple[str, ...], old: dict[str, Any], new: dict[str, Any]) -> Change:
    before, after = lookup(old, key), lookup(new, key)
    if before is None and len(key) == 2:
        return Change(ChangeOp.ADD, key, None, after)
    if after is None and len(key) == 2:
        return Change(ChangeOp.REMOVE, key, before, None)
    return Change(ChangeOp.CHANGE, key, before, after)


def lookup(data: dict[str, Any], key: tuple[str, ...]) -> Any:
    """The value at a change's path in a canonical asset, or None where there is none."""
    value: Any = data
    for part in key:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _order(path: tuple[str, ...]) -> tuple[int, tuple[int, ...], str]:
    if path[0] == "versions":
        return (len(ASSET_FIELDS), version_key(path[1]), "/".join(path[2:]))
    return (ASSET_FIELDS.index(path[0]), (), "")
