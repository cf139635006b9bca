"""import: write a publisher's gallery assets as a gallery.yaml that plans to no changes."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gallery_sync.errors import GallerySyncError
from gallery_sync.files import FileRefused, read_regular
from gallery_sync.model import Asset, Catalog, DurationLimit, Status, Version, VisibilityLevel

PNG_MAGIC = b"\x89PNG"
LONG_DESCRIPTION = 300  # characters; longer descriptions go to docs/<id>.md
HEADER = (
    "# Written by `gallery-sync import`: the gallery as it is, so `gallery-sync plan` shows no\n"
    "# changes. `gallery-sync schema` prints the JSON Schema of this file for your editor.\n"
)


@dataclass(frozen=True, slots=True)
class Neighbour:
    """The `publisher` and `defaults` of a config file the import will sit beside: every file
    of one config must declare the same, so the import copies them."""

    file: Path
    publisher: Mapping[str, Any]
    defaults: Mapping[str, Any] | None

    @property
    def account(self) -> str | None:
        account = self.publisher.get("account")
        return account if isinstance(account, str) else None


def find_neighbour(folder: Path, target: Path | None) -> Neighbour | None:
    """The first *.yaml config in `folder` (in the loader's order) other than `target`."""
    from gallery_sync.config.yamlload import MAX_FILE_BYTES, load_yaml

    skip = target.resolve() if target is not None else None
    for file in sorted(folder.glob("*.yaml")):
        if file.resolve() == skip:
            continue
        try:
            data = load_yaml(read_regular(file, limit=MAX_FILE_BYTES, what="config file"), "").data
        except FileRefused:
            continue
        publisher = data.get("publisher") if isinstance(data, dict) else None
        if isinstance(publisher, dict):
            defaults = data.get("defaults")
            return Neighbour(file, publisher, defaults if isinstance(defaults, dict) else None)
    return None


@dataclass(slots=True)
class ImportedConfig:
    """The YAML text and the side files (descriptions, covers) it refers to."""

    text: str
    assets: int = 0
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    files_dir: str = "."  # the folder (the user's choice) every side file must stay inside


def pick_account(
    assets: dict[str, Asset], account: str | None, neighbour: Neighbour | None = None
) -> str:
    """--account, else the account of the config beside the import, else the only publisher."""
    publishers = sorted({a.publisher for a in assets.values()})
    if neighbour is not None and neighbour.account is not None:
        if account and account != neighbour.account:
            raise GallerySyncError(
                f"{neighbour.file} beside the output is for publisher {neighbour.account!r}, "
                f"not {account!r}; every file of a config has one publisher: write elsewhere"
            )
        return neighbour.account
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
    *,
    ids: Collection[str] = (),
    neighbour: Neighbour | None = None,
    files_dir: str = ".",
) -> ImportedConfig:
    """The config of `account`'s assets (only `ids` if given); side files under `files_dir`,
    a relative folder, named as the config refers to them."""
    mine = {k: a for k, a in sorted(assets.items()) if a.publisher == account}
    unknown = sorted(set(ids) - set(mine))
    if unknown:
        raise GallerySyncError(
            f"no asset {', '.join(map(repr, unknown))} of {account} in the gallery; "
            "`gallery-sync show` lists the assets it holds"
        )
    if ids:
        mine = {k: a for k, a in mine.items() if k in ids}
    out = ImportedConfig("", len(mine), files_dir=files_dir)
    body: dict[str, Any] = {"apiVersion": "gallery-sync/v1"}
    if neighbour is not None:
        body["publisher"] = dict(neighbour.publisher)
        default_region = (neighbour.defaults or {}).get("region")
        if neighbour.defaults is not None:
            body["defaults"] = dict(neighbour.defaults)
    else:
        regions = Counter(v.region for a in mine.values() for v in a.versions)
        default_region = regions.most_common(1)[0][0] if regions else None
        agreements = sorted(catalog.agreements)
        body["publisher"] = {"account": account, "accepted_agreements": agreements}
        if default_region:
            body["defaults"] = {"region": default_region}
    prefix = PurePosixPath(files_dir)
    body["assets"] = {k: _asset(a, default_region, cover, out, prefix) for k, a in mine.items()}
    out.text = HEADER + yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return out


def _asset(
    a: Asset,
    default_region: str | None,
    cover: Callable[[str], bytes | None],
    out: ImportedConfig,
    prefix: PurePosixPath,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"title": a.title}
    if a.cover:
        data = cover(a.cover)
        if data is None:
            raise GallerySyncError(f"the gallery has no image for the cover of {a.id!r}")
        kind = "png" if data.startswith(PNG_MAGIC) else "jpg"
        name = str(prefix / "covers" / f"{a.id}.{kind}")
        out.files[name] = data
        entry["cover"] = name
    if len(a.description) > LONG_DESCRIPTION:
        name = str(prefix / "docs" / f"{a.id}.md")
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


def write_import(
    imported: ImportedConfig, target: Path | None, root: Path, *, force: bool
) -> list[Path]:
    """Write the config (unless `target` is None: standard output) and its side files, which
    the config names relative to `root`; never outside `root`, and never over a different
    file unless forced."""
    planned = [(target, imported.text.encode())] if target is not None else []
    side = imported.files_dir
    planned += [(inside(root, rel, side), data) for rel, data in sorted(imported.files.items())]
    clashes = [p for p, data in planned if _differs(p, data)]
    if clashes and not force:
        verb = "exists" if len(clashes) == 1 else "exist"
        raise GallerySyncError(
            f"{', '.join(str(p) for p in clashes)} already {verb} with other content; "
            "pass --force to overwrite"
        )
    for path, data in planned:
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a full disk leaves no temporary file behind
            raise GallerySyncError(f"cannot write {path}: {exc.strerror}") from exc
    return [p for p, _ in planned]


def inside(root: Path, rel: str, files_dir: str = ".") -> Path:
    """root/rel, refused unless it stays inside root/files_dir (the folder the user chose) once
    `..` and symlinks are resolved: a gallery's asset ids are not to be trusted with file
    names."""
    path = root / rel
    folder = root / files_dir
    if PurePosixPath(rel).is_absolute() or not path.resolve().is_relative_to(folder.resolve()):
        raise GallerySyncError(
            f"refusing to write {rel!r}: it would land outside {os.path.normpath(folder)} (an "
            "asset id that leaves the output folder)"
        )
    return path


def _differs(path: Path, data: bytes) -> bool:
    """Whether writing `data` to `path` would replace something else (a different file, or
    anything that is not a regular file)."""
    try:
        return read_regular(path, limit=len(data), what="file") != data
    except FileRefused as refused:
        return refused.reason != "missing"
