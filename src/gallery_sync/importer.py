"""import: write a publisher's gallery assets as a gallery.yaml that plans to no changes."""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gallery_sync.config import yamlemit
from gallery_sync.config.yamlload import MAX_FILE_BYTES
from gallery_sync.errors import GallerySyncError
from gallery_sync.files import FileRefused, read_regular
from gallery_sync.model import Asset, Catalog, DurationLimit, Status, Version, VisibilityLevel

PNG_MAGIC = b"\x89PNG"
LONG_DESCRIPTION = 300  # characters; longer descriptions go to docs/<id>.md
# An import larger than this is written in parts beside the output file (gallery.yaml,
# gallery-2.yaml, ...): half the loader's per-file cap, so that a part grown by hand edits
# still loads.
PART_BYTES = MAX_FILE_BYTES // 2
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
    from gallery_sync.config.yamlload import load_yaml

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
    """The YAML files (one, or parts of at most `part_bytes` each) and the side files
    (descriptions, covers) they refer to."""

    parts: list[bytes] = field(default_factory=list)
    assets: int = 0
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    files_dir: str = "."  # the folder (the user's choice) every side file must stay inside

    @property
    def text(self) -> str:
        """The whole config as one text (standard output takes no parts)."""
        return b"".join(self.parts).decode()


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
    part_bytes: int = PART_BYTES,
) -> ImportedConfig:
    """The config of `account`'s assets (only `ids` if given); side files under `files_dir`,
    a relative folder, named as the config refers to them. A config over `part_bytes` is
    split, between assets, into parts that each carry the same header."""
    mine = {k: a for k, a in sorted(assets.items()) if a.publisher == account}
    unknown = sorted(set(ids) - set(mine))
    if unknown:
        raise GallerySyncError(
            f"no asset {', '.join(map(repr, unknown))} of {account} in the gallery; "
            "`gallery-sync show` lists the assets it holds"
        )
    if ids:
        mine = {k: a for k, a in mine.items() if k in ids}
    out = ImportedConfig(assets=len(mine), files_dir=files_dir)
    head: dict[str, Any] = {"apiVersion": "gallery-sync/v1"}
    if neighbour is not None:
        head["publisher"] = dict(neighbour.publisher)
        default_region = (neighbour.defaults or {}).get("region")
        if neighbour.defaults is not None:
            head["defaults"] = dict(neighbour.defaults)
    else:
        regions = Counter(v.region for a in mine.values() for v in a.versions)
        default_region = regions.most_common(1)[0][0] if regions else None
        agreements = sorted(catalog.agreements)
        head["publisher"] = {"account": account, "accepted_agreements": agreements}
        if default_region:
            head["defaults"] = {"region": default_region}
    # The header is a few lines (and a neighbour's may hold any YAML value): PyYAML writes it.
    header = yaml.dump(head, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    if not mine:
        out.parts.append((HEADER + header + "assets: {}\n").encode())
        return out
    prefix = PurePosixPath(files_dir)
    covers: dict[str, str] = {}  # sha256 -> the file written for it
    start = (HEADER + header + "assets:\n").encode()
    chunks: list[bytes] = []
    size = len(start)
    for asset_id, asset in mine.items():
        entry = _asset(asset, default_region, cover, out, prefix, covers)
        chunk = (yamlemit.mapping({asset_id: entry}, "  ") + "\n").encode()
        if chunks and size + len(chunk) > part_bytes:
            out.parts.append(start + b"".join(chunks))
            chunks, size = [], len(start)
        chunks.append(chunk)
        size += len(chunk)
    out.parts.append(start + b"".join(chunks))
    return out


def _asset(
    a: Asset,
    default_region: str | None,
    cover: Callable[[str], bytes | None],
    out: ImportedConfig,
    prefix: PurePosixPath,
    covers: dict[str, str],
) -> dict[str, Any]:
    entry: dict[str, Any] = {"title": a.title}
    if a.cover:
        # One file an image: the cover of several assets is read and written once, named
        # after the first of them (in id order), and every one of them refers to it.
        name = covers.get(a.cover)
        if name is None:
            data = cover(a.cover)
            if data is None:
                raise GallerySyncError(f"the gallery has no image for the cover of {a.id!r}")
            kind = "png" if data.startswith(PNG_MAGIC) else "jpg"
            name = covers[a.cover] = str(prefix / "covers" / f"{a.id}.{kind}")
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
    entry: dict[str, Any] = {"version": number}
    if region != default:
        entry["region"] = region
    entry["ai_application"] = app
    if description:
        entry["description"] = description
    if status is not Status.RELEASED:
        entry["status"] = status.value
    return entry


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write them (and as the example does).
        super().increase_indent(flow, False)


def part_paths(target: Path, count: int) -> list[Path]:
    """Where the parts of an import to `target` go: gallery.yaml, gallery-2.yaml, ..."""
    return [target] + [
        target.with_name(f"{target.stem}-{i}{target.suffix}") for i in range(2, count + 1)
    ]


def stale_parts(target: Path, count: int) -> list[Path]:
    """Parts of an earlier, larger import beside `target` that this one would not replace:
    left there, the folder would declare their assets twice."""
    pattern = re.compile(re.escape(target.stem) + r"-([0-9]+)" + re.escape(target.suffix))
    found = []
    for path in sorted(target.parent.glob(f"{glob.escape(target.stem)}-*{target.suffix}")):
        number = pattern.fullmatch(path.name)
        if number and int(number.group(1)) > count:
            found.append(path)
    return found


def write_import(
    imported: ImportedConfig, target: Path | None, root: Path, *, force: bool
) -> list[Path]:
    """Write the config (unless `target` is None: standard output) and its side files, which
    the config names relative to `root`; never outside `root`, and never over a different
    file unless forced. Parts of an earlier import that this one does not write are removed
    when forced, and otherwise stop the import. Returns the paths, the config's parts first."""
    if target is None and len(imported.parts) > 1:
        size = sum(map(len, imported.parts))
        raise GallerySyncError(
            f"the import is {size / 2**20:.0f} MiB, more than one config file may hold; "
            "write it with -o FILE, which splits it into parts beside FILE"
        )
    folders: dict[str, str] = {}
    # Side files first, the config last: an interrupted import never leaves a config that
    # names files it has not written.
    side = [
        (inside(root, rel, imported.files_dir, resolved=folders), data)
        for rel, data in sorted(imported.files.items())
    ]
    parts: list[tuple[Path, bytes]] = []
    stale: list[Path] = []
    if target is not None:
        parts = list(zip(part_paths(target, len(imported.parts)), imported.parts, strict=True))
        stale = stale_parts(target, len(imported.parts))
    planned = side + parts
    state = {p: _compare(p, data) for p, data in planned}
    clashes = [p for p, found in state.items() if found == "differs"] + stale
    if clashes and not force:
        verb = "exists" if len(clashes) == 1 else "exist"
        raise GallerySyncError(
            f"{', '.join(str(p) for p in clashes)} already {verb} with other content; "
            "pass --force to overwrite"
            + (" (and remove parts of an earlier import)" if stale else "")
        )
    made: set[Path] = set()
    for path, data in planned:
        if state[path] == "same":
            continue  # already there, byte for byte: a re-import rewrites only what changed
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            _write_file(tmp, data)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a full disk leaves no temporary file behind
            raise GallerySyncError(f"cannot write {path}: {exc.strerror}") from exc
    for path in stale:
        try:
            path.unlink()
        except OSError as exc:
            raise GallerySyncError(f"cannot remove {path}: {exc.strerror}") from exc
    return [p for p, _ in parts + side]


def inside(
    root: Path, rel: str, files_dir: str = ".", *, resolved: dict[str, str] | None = None
) -> Path:
    """root/rel, refused unless it stays inside root/files_dir (the folder the user chose) once
    `..` and symlinks are resolved: a gallery's asset ids are not to be trusted with file
    names. `resolved` caches the real path of each folder (covers/, docs/), so that each file
    costs one lstat."""
    path = root / rel
    folder = root / files_dir
    base = os.path.realpath(folder)
    head, tail = os.path.split(rel)
    if resolved is None or tail in ("", ".", ".."):
        real = os.path.realpath(path)
    else:
        found = resolved.get(head)
        if found is None:
            found = resolved[head] = os.path.realpath(root / head)
        real = os.path.join(found, tail)
        if os.path.islink(real):
            real = os.path.realpath(real)
    if PurePosixPath(rel).is_absolute() or not (real == base or real.startswith(base + os.sep)):
        raise GallerySyncError(
            f"refusing to write {rel!r}: it would land outside {os.path.normpath(folder)} (an "
            "asset id that leaves the output folder)"
        )
    return path


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _compare(path: Path, data: bytes) -> str:
    """ "missing", "same" (`path` holds exactly `data`) or "differs" (another content, or
    anything that is not a regular file): whether writing `data` would replace something."""
    try:
        return "same" if read_regular(path, limit=len(data), what="file") == data else "differs"
    except FileRefused as refused:
        return "missing" if refused.reason == "missing" else "differs"
