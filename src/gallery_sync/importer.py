"""import: write a publisher's gallery assets as a gallery.yaml that plans to no changes."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gallery_sync.errors import GallerySyncError
from gallery_sync.model import Asset, Catalog, DurationLimit, Status, Version, VisibilityLevel

PNG_MAGIC = b"\x89PNG"
LONG_DESCRIPTION = 300  # characters; longer descriptions go to docs/<id>.md
HEADER = (
    "# Written by `gallery-sync import`: the gallery as it is, so `gallery-sync plan` shows no\n"
    "# changes. `gallery-sync schema` prints the JSON Schema of this file for your editor.\n"
)


@dataclass(slots=True)
class ImportedConfig:
    """The YAML text and the side files (descriptions, covers) it refers to."""

    text: str
    assets: int = 0
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content


def pick_account(assets: dict[str, Asset], account: str | None) -> str:
    publishers = sorted({a.publisher for a in assets.values()})
    if account:
        return account
    if len(publishers) == 1:
        return publishers[0]
    if not publishers:
        raise GallerySyncError("the gallery holds no assets; nothing to import (pass --account)")
    raise GallerySyncError(
        f"the gallery holds assets of {', '.join(publishers)}; choose one with --account"
    )


def build_import(
    assets: dict[str, Asset],
    catalog: Catalog,
    account: str,
    cover: Callable[[str], bytes | None],
) -> ImportedConfig:
    mine = {k: a for k, a in sorted(assets.items()) if a.publisher == account}
    regions = Counter(v.region for a in mine.values() for v in a.versions)
    default_region = regions.most_common(1)[0][0] if regions else None
    out = ImportedConfig("", len(mine))
    body: dict[str, Any] = {
        "apiVersion": "gallery-sync/v1",
        "publisher": {"account": account, "accepted_agreements": sorted(catalog.agreements)},
    }
    if default_region:
        body["defaults"] = {"region": default_region}
    body["assets"] = {k: _asset(a, default_region, cover, out) for k, a in mine.items()}
    out.text = HEADER + yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return out


def _asset(
    a: Asset, default_region: str | None, cover: Callable[[str], bytes | None], out: ImportedConfig
) -> dict[str, Any]:
    entry: dict[str, Any] = {"title": a.title}
    if a.cover:
        data = cover(a.cover)
        if data is None:
            raise GallerySyncError(f"the gallery has no image for the cover of {a.id!r}")
        kind = "png" if data.startswith(PNG_MAGIC) else "jpg"
        name = f"covers/{a.id}.{kind}"
        out.files[name] = data
        entry["cover"] = name
    if len(a.description) > LONG_DESCRIPTION:
        name = f"docs/{a.id}.md"
        out.files[name] = a.description.encode()
        entry["description_file"] = name
    elif a.description:
        entry["description"] = a.description
    if a.categories:
        entry["categories"] = list(a.categories)
    if a.visibility.level is VisibilityLevel.SPECIFIC_USERS:
        entry["visibility"] = {"specific_users": sorted(a.visibility.users)}
    else:
        entry["visibility"] = a.visibility.name
    if a.duration_limit != DurationLimit():
        entry["duration_limit"] = a.duration_limit.to_json()
    if a.status is not Status.RELEASED:
        entry["status"] = a.status.value
    entry["versions"] = [
        _version(v.version, v.region, v.ai_application, v.description, v.status, default_region)
        for v in sorted(a.versions, key=Version.order)
    ]
    return entry


def _version(
    number: str, region: str, app: str, description: str, status: Status, default: str | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": _Quoted(number)}
    if region != default:
        entry["region"] = region
    entry["ai_application"] = app
    if description:
        entry["description"] = description
    if status is not Status.RELEASED:
        entry["status"] = status.value
    return entry


class _Quoted(str):
    """A string always written in double quotes (versions: `"1.0.0"`, never a YAML number)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write them (and as the example does).
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(
    _Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"')
)


def write_import(imported: ImportedConfig, target: Path, *, force: bool) -> list[Path]:
    """Write the config and its side files; never overwrite a different file unless forced."""
    root = target.parent
    planned = [(target, imported.text.encode())] + [
        (root / rel, data) for rel, data in sorted(imported.files.items())
    ]
    clashes = [p for p, data in planned if p.exists() and p.read_bytes() != data]
    if clashes and not force:
        raise GallerySyncError(
            f"{', '.join(str(p) for p in clashes)} already exist(s) with other content; "
            "pass --force to overwrite"
        )
    for path, data in planned:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise GallerySyncError(f"cannot write {path}: {exc.strerror}") from exc
    return [p for p, _ in planned]
