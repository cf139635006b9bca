"""From `-f` paths to one Config: files read, schema checked, paths resolved, assets merged."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gallery_sync.config.schema import check_schema, fast_part_checks
from gallery_sync.config.yamlload import MAX_FILE_BYTES, Document, load_yaml
from gallery_sync.diagnostics import Diagnostic, Place, has_errors, sort_diagnostics
from gallery_sync.errors import GallerySyncError
from gallery_sync.files import FileRefused, read_regular
from gallery_sync.model import Asset, Status, Version

MAX_COVER_BYTES = 5 * 1024 * 1024
MAX_DESCRIPTION_CHARS = 50_000
# A character is at most 4 bytes of UTF-8: a longer file has too many characters for certain.
MAX_DESCRIPTION_BYTES = 4 * MAX_DESCRIPTION_CHARS
COVER_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}

# Keys into Config.places: (asset,), (asset, field), (asset, "versions", number[, field]).
PlaceKey = tuple[str, ...]
# A finding's place as plan asks for it: (asset, version or None, field or None).
PlaceQuery = tuple[str, "str | None", "str | None"]


@dataclass(slots=True)
class Config:
    """The desired state declared by one or more files, and everything found wrong with it."""

    files: list[str] = field(default_factory=list)
    publisher: str | None = None
    accepted_agreements: frozenset[str] = frozenset()
    assets: dict[str, Asset] = field(default_factory=dict)
    # Assets whose own fields passed the schema, even in a config with errors elsewhere: the
    # static rules (config/static.py) check every one of them, so one typo hides nothing.
    well_typed: dict[str, Asset] = field(default_factory=dict)
    places: dict[PlaceKey, Place] = field(default_factory=dict)
    covers: dict[str, str] = field(default_factory=dict)  # sha256 -> file path, for upload
    diagnostics: list[Diagnostic] = field(default_factory=list)
    asset_docs: dict[str, Document] = field(default_factory=dict)  # where each asset is declared
    first_doc: Document | None = None  # the one publisher and defaults come from
    inputs: dict[str, str] = field(default_factory=dict)  # file read -> sha256 of its bytes
    located: dict[PlaceQuery, Place | None] = field(default_factory=dict)  # by `locate`

    @property
    def valid(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def publisher_place(self) -> Place | None:
        return self.first_doc.place(("publisher", "account")) if self.first_doc else None

    def place(
        self, asset: str, version: str | None = None, name: str | None = None
    ) -> Place | None:
        """The line to point at for a field of an asset or version, falling back outward.

        Places are looked up only for the few fields that have a problem, not recorded for
        every field of every asset up front.
        """
        if (asset, version, name) in self.located:
            return self.located[asset, version, name]
        doc = self.asset_docs.get(asset)
        if doc is not None and (asset,) not in self.places:
            _record_places(self.places, doc, asset)
        keys: list[PlaceKey] = []
        if version is not None:
            if name:
                keys.append((asset, "versions", version, name))
            keys.append((asset, "versions", version))
        if name:
            keys.append((asset, name))
        keys.append((asset,))
        for key in keys:
            if key in self.places:
                return self.places[key]
        return None

    def locate(self, queries: Collection[PlaceQuery]) -> dict[PlaceQuery, Place | None]:
        """`place` for many findings at once: one read of each file they are in, which keeps
        the places asked for and no others (a plan with an error on every asset would hold the
        place of every key of every file otherwise)."""
        by_doc: dict[int, tuple[Document, list[PlaceQuery]]] = {}
        for query in queries:
            doc = self.asset_docs.get(query[0])
            if doc is not None and query not in self.located:
                by_doc.setdefault(id(doc), (doc, []))[1].append(query)
        for doc, asked in by_doc.values():
            self.located.update(_locate_in(doc, asked))
        return {query: self.place(*query) for query in queries}

    def digest(self) -> str:
        """sha256 of what the desired state was read from: every config, cover and description
        file, by path and content (hashing bytes costs ~20 ms at 10 MB; re-serialising the
        parsed state cost ~10x that)."""
        body = json.dumps(sorted(self.inputs.items())).encode()
        return hashlib.sha256(body).hexdigest()


def config_files(paths: list[str]) -> list[tuple[Path, Path]]:
    """(file, root) pairs for `-f` arguments: a directory gives its *.yaml files."""
    out = []
    for raw in paths:
        p = Path(raw)
        if os.path.isdir(p):  # os.path: False, not an OSError, where the system will not say
            out += [(f, p) for f in sorted(p.glob("*.yaml")) if os.path.isfile(f)]
        else:
            out.append((p, p.parent))
    return out


def load_config(paths: list[str]) -> Config:
    """Load, check and merge the config; problems are collected, never raised (but for
    ConfigChanged: a file that changed between its read and a read for a place)."""
    config = Config()
    pairs = config_files(paths)
    if not pairs:
        config.diagnostics.append(
            Diagnostic.of("file-not-found", f"no *.yaml files in {', '.join(paths)}")
        )
    declared_in: dict[str, Document] = {}
    for file, root in pairs:
        shown = _display(file)
        config.files.append(shown)
        try:
            # A FIFO, /dev/zero or a directory is refused before a byte is read.
            data = read_regular(file, limit=MAX_FILE_BYTES, what="config file", shown=shown)
        except FileRefused as exc:
            code = "input-too-large" if exc.reason == "too-large" else "file-not-found"
            message = str(exc) + (" (64 MiB)" if exc.reason == "too-large" else "")
            config.diagnostics.append(Diagnostic.of(code, message))
            continue
        digest = config.inputs[shown] = hashlib.sha256(data).hexdigest()
        streaming = _Streaming.of(config, file, root, declared_in)
        doc = load_yaml(data, shown, on_asset=streaming.take if streaming else None)
        if streaming is not None and not streaming.done(doc):
            if streaming.taken:  # some bodies were let go: the whole document, read again
                doc = load_yaml(data, shown)
            streaming = None
        # Parsed, the bytes are let go (10 MiB of a 10,000-asset file, held through the whole
        # plan otherwise); a place asked for later reads the file again, checked against this
        # digest. A no-change plan of 10,000 assets: 107 -> 97 MiB peak.
        del data
        if doc.source:
            doc.source = b""
            doc.reread = partial(_Reread, os.path.abspath(file), shown, digest)
        config.diagnostics += doc.diagnostics
        if doc.data is None and doc.diagnostics:
            continue
        # Read while parsed: every part passed the schema, and every asset is in the Config.
        problems = [] if streaming else check_schema(doc)
        config.diagnostics += problems
        if not isinstance(doc.data, dict):
            continue
        if config.first_doc is None:
            config.first_doc = doc
            config.publisher = _get(doc.data, "publisher", "account")
            agreements = _get(doc.data, "publisher", "accepted_agreements")
            if not isinstance(agreements, list):  # the schema check says what it should be
                agreements = []
            config.accepted_agreements = frozenset(a for a in agreements if isinstance(a, str))
        else:
            config.diagnostics += _check_agreement(config.first_doc, doc)
        if streaming:
            streaming.merge(doc)
            continue
        broken = frozenset(d.asset for d in problems if d.is_error)  # None: not in an asset
        _FileReader(config, doc, file, root, declared_in).read(broken=broken)
    config.diagnostics = sort_diagnostics(config.diagnostics)
    config.well_typed = config.assets
    if not config.valid:
        config.assets = {}
    # The parsed YAML is as big as the assets built from it; a place asked for later reads
    # the file again. Freed here, the gallery's state can reuse its memory.
    for doc in {id(d): d for d in config.asset_docs.values()}.values():
        doc.data = None
    if config.first_doc is not None:
        config.first_doc.data = None
    return config


class ConfigChanged(GallerySyncError):
    """A config file changed between its load and a later read for a finding's place."""


class _Reread:
    """A config file opened again as a stream for libyaml (a place's read holds no copy of
    it: 10 MiB at 10,000 assets), refused at its end unless its sha256 is the one read at
    load: a changed file is said so, never pointed into at the wrong lines."""

    def __init__(self, path: str, shown: str, digest: str) -> None:
        self.shown = shown
        self.digest = digest
        self.sha = hashlib.sha256()
        self.size = 0
        try:
            # Not blocking, and the descriptor's own file checked: as read_regular.
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise ConfigChanged(_changed(shown, why)) from None
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):
            os.close(self.fd)
            raise ConfigChanged(_changed(shown, "it is no longer a regular file"))

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            return b"".join(iter(partial(self.read, 1 << 20), b""))
        chunk = os.read(self.fd, size)
        self.size += len(chunk)
        self.sha.update(chunk)
        if self.size > MAX_FILE_BYTES or (not chunk and self.sha.hexdigest() != self.digest):
            raise ConfigChanged(_changed(self.shown, "its content is not the one read before"))
        return chunk

    def __enter__(self) -> _Reread:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _changed(file: str, why: str) -> str:
    return (
        f"config file {file} changed while gallery-sync was reading it ({why}); its findings "
        "cannot be placed at their lines. Run the command again"
    )


def _check_agreement(first: Document, doc: Document) -> list[Diagnostic]:
    """`publisher` and `defaults` must agree across the files of one config."""
    out = []
    for key in ("publisher", "defaults"):
        a, b = first.data.get(key), doc.data.get(key)
        if a != b:
            out.append(
                Diagnostic.of(
                    "schema",
                    f"{key} differs from the one in {first.file} (line "
                    f"{first.place((key,)).line}); every file of a config must declare the same",
                    place=doc.place((key,)),
                )
            )
    return out


class _Unstreamable(Exception):
    """An asset with a finding: _Streaming leaves its document to the whole-document path."""


_UNREAD: Any = object()


class _Streaming:
    """Reads the assets of a document while the document is parsed (load_yaml's on_asset), a
    batch at a time: their bodies checked against the schema's part for assets, their files
    and versions read, their Assets built, and the bodies let go. The whole parse and every
    Asset are then never held together (30,000 small new assets: plan's peak 79 -> 70 MiB,
    apply's 87 -> 74 MiB). A batch, not each asset as it ends: the parse's loop then runs on
    without the rest of the reading between every two assets (which cost it ~0.2 s of a
    10,000-asset read).

    Only a document without findings is read so: one with a finding in an asset (its shape, a
    file, a version, an asset declared in an earlier file) or at its top level is parsed
    again whole and read as before, so that every diagnostic is the one that path gives. The
    assets are built into a Config of their own, merged into the real one when all is read.
    `publisher` and `defaults` must come before `assets`, as every file written by import
    and every example has them: what an asset is read with is then all there is."""

    BATCH = 500

    def __init__(
        self,
        config: Config,
        file: Path,
        root: Path,
        declared_in: dict[str, Document],
        checks: tuple[Callable[[Any], bool], Callable[[Any], bool]],
    ) -> None:
        self.config = config
        self.first = config.first_doc is None
        self.earlier = declared_in
        self.assets_fit, self.top_fits = checks
        self.own = Config(publisher=config.publisher)
        self.reader = _FileReader(self.own, Document(str(file)), file, root, {}, streaming=True)
        self.default_region: Any = _UNREAD
        self.pending: dict[str, Any] = {}  # read from the file, not yet into the Config
        self.taken = 0
        self.failed = False

    @classmethod
    def of(
        cls, config: Config, file: Path, root: Path, declared_in: dict[str, Document]
    ) -> _Streaming | None:
        checks = fast_part_checks()
        return None if checks is None else cls(config, file, root, declared_in, checks)

    def take(self, top: dict[str, Any], asset_id: str, body: Any) -> Any:
        """None for a body taken (let go from the parse), else the body, kept for the whole
        path: once an asset has a finding, the rest are kept as they are."""
        if self.failed or asset_id in self.earlier:
            self.failed = True
            return body
        if self.default_region is _UNREAD:  # the first asset: what comes before it is all
            self.default_region = _get(top, "defaults", "region")
            if self.first:
                self.own.publisher = _get(top, "publisher", "account")
        self.pending[asset_id] = body
        self.taken += 1
        if len(self.pending) >= self.BATCH:
            self._read_pending()
        return None

    def _read_pending(self) -> None:
        pending, self.pending = self.pending, {}
        if self.failed or not self.assets_fit(pending):
            self.failed = True
            return
        read = self.reader.read_asset
        try:
            for asset_id, body in pending.items():
                if not read(asset_id, body, self.default_region):
                    self.failed = True
                    return
        except _Unstreamable:
            self.failed = True

    def done(self, doc: Document) -> bool:
        """Whether the whole document was read so: every asset, and nothing after them."""
        self._read_pending()
        data = doc.data
        if self.failed or not self.taken or not isinstance(data, dict):
            return False
        assets = data.get("assets")
        return (
            next(reversed(data)) == "assets"
            and isinstance(assets, dict)
            and len(assets) == self.taken
            and all(body is None for body in assets.values())
            and self.top_fits(data)
        )

    def merge(self, doc: Document) -> None:
        """What was read, into the real Config, each asset declared in `doc`."""
        own, config = self.own, self.config
        for asset_id in own.assets:
            self.earlier[asset_id] = config.asset_docs[asset_id] = doc
        config.assets.update(own.assets)
        config.inputs.update(own.inputs)
        config.covers.update(own.covers)


class _FileReader:
    """Checks one document's paths and static rules and adds its assets to the Config."""

    def __init__(
        self,
        config: Config,
        doc: Document,
        file: Path,
        root: Path,
        declared_in: dict[str, Document],
        *,
        streaming: bool = False,
    ) -> None:
        self.config = config
        self.doc = doc
        # Read while parsed (_Streaming): a finding stops that, before its place is asked for
        # (the parse holds the reader that a place would need).
        self.streaming = streaming
        self.base = file.parent
        self.root = os.path.realpath(root)
        self.declared_in = declared_in
        # Many assets name the same cover: each file is checked once, each directory resolved
        # once (realpath costs an lstat per path component).
        self.files: dict[tuple[str, str], _File] = {}
        self.dirs: dict[str, str] = {}
        self.shown_dirs: dict[str, str] = {}  # a real folder's path relative to the working one

    def read(self, *, broken: frozenset[str | None]) -> None:
        assets = self.doc.data.get("assets")
        if not isinstance(assets, dict):
            return
        default_region = _get(self.doc.data, "defaults", "region")
        for asset_id, body in assets.items():
            if not isinstance(body, dict):
                continue
            self.read_asset(asset_id, body, default_region, broken=broken)
            # Its parsed form is let go as soon as it is read (its Asset shares the strings):
            # the config then never holds the whole parse and every Asset at once. A place
            # asked for later reads the file's bytes again, as after load.
            assets[asset_id] = None

    def read_asset(
        self,
        asset_id: str,
        body: dict[str, Any],
        default_region: Any,
        *,
        broken: frozenset[str | None] = frozenset(),
    ) -> bool:
        """Check one asset's files and versions and add it to the Config; False if it was
        not added (it is said why, or its own fields are not well-typed: `broken`)."""
        if asset_id in self.declared_in:
            first = self.declared_in[asset_id].place(("assets", asset_id))
            self.diag(
                "duplicate-asset",
                f"asset {asset_id!r} is also declared at {first.file}:{first.line}; "
                "an asset id may be declared once",
                ("assets", asset_id),
                asset=asset_id,
            )
            return False
        self.declared_in[asset_id] = self.doc
        self.config.asset_docs[asset_id] = self.doc
        resolved = self._resolve_files(asset_id, body)
        versions = self._resolve_versions(asset_id, body, default_region)
        # Built when its own fields are well-typed; if anything else is wrong (a file, another
        # asset), config.assets is emptied and only the static checks see it.
        if asset_id in broken or versions is None:
            return False
        self._add_asset(asset_id, body, resolved or {}, versions)
        return True

    def diag(
        self,
        code: str,
        message: str,
        path: tuple[Any, ...],
        *,
        asset: str | None = None,
        version: str | None = None,
    ) -> None:
        if self.streaming:
            raise _Unstreamable
        self.config.diagnostics.append(
            Diagnostic.of(code, message, place=self.doc.place(path), asset=asset, version=version)
        )

    def _resolve_files(self, asset_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Cover (sha256) and description text from files; None if any of them failed."""
        out: dict[str, Any] = {}
        ok = True
        for key, field_ in (("cover", "cover"), ("description_file", "description")):
            written = body.get(key)
            if not isinstance(written, str) or not written:  # '' is the schema's error alone
                continue
            found = self.files.get((key, written))
            if found is None:
                found = self.files[(key, written)] = self._check_file(key, written)
            if found.code:
                self.diag(found.code, found.message, ("assets", asset_id, key), asset=asset_id)
                ok = False
                continue
            out[field_] = found.value
            self.config.inputs[found.shown] = found.digest
            if key == "cover":
                self.config.covers[found.digest] = found.shown
        if "description" not in out and isinstance(body.get("description"), str):
            out["description"] = body["description"]
        return out if ok else None

    def _check_file(self, key: str, written: str) -> _File:
        """One named file, checked once however many assets name it."""
        if "\0" in written:  # no file system has such a name (and Python would raise)
            return _File.refused(
                "file-not-found", f"{key} {written!r} holds a NUL character, which no file can"
            )
        if os.path.isabs(written):
            return _File.refused(
                "path-outside-root",
                f"{key} {written!r} is absolute; write it relative to {self.doc.file}",
            )
        try:
            real_dir, name = self._real_dir(written)
        except (OSError, ValueError) as exc:  # a name too long, a folder that cannot be read
            why = getattr(exc, "strerror", None) or str(exc)
            return _File.refused("file-not-found", f"cannot resolve {key} {written!r}: {why}")
        limit = MAX_COVER_BYTES if key == "cover" else MAX_DESCRIPTION_BYTES
        data = None
        if name:
            # The name in its real folder, opened without following a symlink (O_NOFOLLOW):
            # what is read is that name's own file, and no lstat per file is needed first.
            resolved = os.path.join(real_dir, name)
            outside = self._outside(key, written, resolved)
            if outside is not None:
                return outside
            try:
                data = read_regular(
                    resolved, limit=limit, what=key, shown=repr(written), follow=False
                )
            except FileRefused as exc:
                if exc.reason != "symlink":
                    return _File.refused(*_refusal(key, written, exc, self.base))
            else:
                return self._checked(key, written, data, self._display_in(real_dir, name))
        try:
            resolved = os.path.realpath(self.base / written)  # a symlink, or a name . or ..
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            return _File.refused("file-not-found", f"cannot resolve {key} {written!r}: {why}")
        outside = self._outside(key, written, resolved)
        if outside is not None:
            return outside
        try:
            # Bounded, and never blocking on a FIFO: the file read is the file checked.
            data = read_regular(resolved, limit=limit, what=key, shown=repr(written))
        except FileRefused as exc:
            return _File.refused(*_refusal(key, written, exc, self.base))
        return self._checked(key, written, data, _display(resolved))

    def _outside(self, key: str, written: str, resolved: str) -> _File | None:
        """The refusal of a file outside the config root, None for one inside it."""
        if resolved == self.root or resolved.startswith(self.root + os.sep):
            return None
        return _File.refused(
            "path-outside-root",
            f"{key} {written!r} resolves to {resolved}, outside the config root {self.root}; "
            "files must stay inside it (.. and symlinks included)",
        )

    @staticmethod
    def _checked(key: str, written: str, data: bytes, shown: str) -> _File:
        if key == "cover":
            return _check_cover(written, data, shown)
        return _read_description(written, data, shown)

    def _real_dir(self, written: str) -> tuple[str, str]:
        """(os.path.realpath of the folder of base / written, the file's name), each folder
        resolved once per document (realpath costs an lstat per path component); the name is
        '' for a path ending in '.', '..' or a separator, which is resolved whole."""
        head, tail = os.path.split(written)
        if tail in ("", ".", ".."):
            return "", ""
        real_dir = self.dirs.get(head)
        if real_dir is None:
            real_dir = self.dirs[head] = os.path.realpath(self.base / head)
        return real_dir, tail

    def _display_in(self, real_dir: str, name: str) -> str:
        """_display(os.path.join(real_dir, name)), the folder's relpath computed once."""
        relative = self.shown_dirs.get(real_dir)
        if relative is None:
            relative = self.shown_dirs[real_dir] = os.path.relpath(real_dir)
        path = name if relative == "." else os.path.join(relative, name)
        return os.path.join(real_dir, name) if path.startswith("..") else path

    def _resolve_versions(
        self, asset_id: str, body: dict[str, Any], default_region: Any
    ) -> dict[str, tuple[Any, Any, Any, Any]] | None:
        """Each version's (region, ai_application, description, status), by number; None if
        one cannot be read."""
        versions = body.get("versions")
        if not isinstance(versions, list):
            return None
        out: dict[str, tuple[Any, Any, Any, Any]] = {}
        ok = True
        for index, item in enumerate(versions):
            if not isinstance(item, dict):
                ok = False
                continue
            get = item.get
            number = get("version")
            if not isinstance(number, str):
                ok = False
                continue
            if number in out:
                self.diag(
                    "duplicate-version",
                    f"version {number} is listed twice in asset {asset_id!r}; each version "
                    "appears once",
                    ("assets", asset_id, "versions", index, "version"),
                    asset=asset_id,
                    version=number,
                )
                ok = False
                continue
            region = get("region", default_region)
            if region is None:
                self.diag(
                    "schema",
                    f"version {number} names no region and defaults.region is not set; add "
                    "region: to the version, or defaults: {region: ...} to the file",
                    ("assets", asset_id, "versions", index),
                    asset=asset_id,
                    version=number,
                )
                ok = False
                continue
            out[number] = (
                region,
                get("ai_application"),
                get("description", ""),
                get("status", "released"),
            )
        return out if ok else None

    def _add_asset(
        self,
        asset_id: str,
        body: dict[str, Any],
        resolved: dict[str, Any],
        versions: dict[str, tuple[Any, Any, Any, Any]],
    ) -> None:
        # As Asset.from_json of the merged mapping, versions in version order, without building
        # a mapping per version and reading it back (~25 ms of a 10,000-asset config).
        built = sorted(
            [Version(n, r, a, d, Status.of(s)) for n, (r, a, d, s) in versions.items()],
            key=Version.order,
        )
        self.config.assets[asset_id] = Asset.from_parts(
            asset_id, self.config.publisher or "", {**body, **resolved}, tuple(built)
        )


@dataclass(frozen=True, slots=True)
class _File:
    """A file an asset names: its value (cover sha256 or description text), or why not."""

    value: str = ""
    shown: str = ""  # the path as the user would write it
    digest: str = ""  # sha256 of the content, for Config.inputs
    code: str = ""  # set when refused
    message: str = ""

    @classmethod
    def refused(cls, code: str, message: str) -> _File:
        return cls(code=code, message=message)


def _refusal(key: str, written: str, exc: FileRefused, base: Path) -> tuple[str, str]:
    """(code, message) for a cover or description file that could not be read."""
    if exc.reason == "missing":
        return (
            "file-not-found",
            f"{key} {written!r} not found (looked for {_display(base / written)})",
        )
    if exc.reason == "too-large" and key == "cover":
        return "cover-invalid", f"{exc}; a cover is at most 5 MiB"
    if exc.reason == "too-large":
        return "schema", f"{exc}: more than {MAX_DESCRIPTION_CHARS:,} characters, the most allowed"
    return "file-not-found", str(exc)  # a directory, a FIFO, a device; or not readable


def _check_cover(written: str, data: bytes, shown: str) -> _File:
    if not any(data.startswith(magic) for magic in COVER_MAGIC):
        return _File.refused(
            "cover-invalid", f"cover {written!r} is not a PNG or JPEG image by its content"
        )
    digest = hashlib.sha256(data).hexdigest()
    return _File(digest, shown, digest)


def _read_description(written: str, data: bytes, shown: str) -> _File:
    try:
        # Decoded by hand: a text-mode read costs ~70 us per small file. Line endings are
        # normalised as text mode would, so a CRLF checkout plans no change.
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        return _File.refused(
            "schema", f"description_file {written!r} is not UTF-8 text (byte {exc.start})"
        )
    if len(text) > MAX_DESCRIPTION_CHARS:
        return _File.refused(
            "schema",
            f"description_file {written!r} has {len(text):,} characters; at most "
            f"{MAX_DESCRIPTION_CHARS:,} are allowed",
        )
    return _File(text, shown, hashlib.sha256(data).hexdigest())  # the bytes, as for configs


def _record_places(places: dict[PlaceKey, Place], doc: Document, asset_id: str) -> None:
    """Places of one asset's fields and versions, keyed by version number, from its document."""
    body = doc.kept_data()["assets"][asset_id]
    base = ("assets", asset_id)
    places[(asset_id,)] = doc.place(base)
    for key in body:
        places[(asset_id, key)] = doc.place((*base, key))
    versions = body.get("versions")
    if not isinstance(versions, list):
        return
    for index, item in enumerate(versions):
        if not isinstance(item, dict) or not isinstance(item.get("version"), str):
            continue
        number = item["version"]
        vpath = (*base, "versions", index)
        places.setdefault((asset_id, "versions", number), doc.place(vpath))
        for key in item:
            places.setdefault((asset_id, "versions", number, key), doc.place((*vpath, key)))


def _locate_in(doc: Document, queries: list[PlaceQuery]) -> dict[PlaceQuery, Place | None]:
    """Places of (asset, version, field) queries from one read of `doc` that keeps only the
    paths they name: the same answers as `Config.place` from all the places of the file."""
    # Flat sets, not three sets per asset: 10,000 findings would hold 6 MiB of empty ones.
    assets: set[str] = set()
    names: set[tuple[str, str]] = set()  # (asset, field)
    versioned: set[str] = set()  # assets a version of which is asked for
    version_names: set[tuple[str, str]] = set()  # (asset, field of a version)
    for asset, version, name in queries:
        assets.add(asset)
        if version is not None:
            versioned.add(asset)
            if name:
                version_names.add((asset, name))
        if name:
            names.add((asset, name))

    def keep(path: tuple[Any, ...]) -> bool:
        if not path or path[0] != "assets":
            return False
        if len(path) < 3:
            return len(path) == 1 or path[1] in assets
        if len(path) == 3:
            return (path[1], path[2]) in names
        if path[2] != "versions" or path[1] not in versioned:
            return False
        return len(path) == 4 or (
            len(path) == 5 and (path[4] == "version" or (path[1], path[4]) in version_names)
        )

    marked = doc.marks(keep)
    if marked is None:  # the file's places are all known already
        return {}
    positions, values = marked
    numbered: dict[tuple[str, str], int] = {}  # (asset, version) -> its first list item
    for path, value in values.items():
        if len(path) == 5 and path[4] == "version" and isinstance(value, str):
            numbered.setdefault((path[1], value), path[3])

    def at(*path: Any) -> Place | None:
        found = positions.get(path)
        return Place(doc.file, *found) if found is not None else None

    out: dict[PlaceQuery, Place | None] = {}
    for asset, version, name in queries:
        base = ("assets", asset)
        place = at(*base) or at("assets") or Place(doc.file, 1, 1)
        if name:
            place = at(*base, name) or place
        if version is not None:
            index = numbered.get((asset, version))
            if index is not None:
                item = at(*base, "versions", index)
                place = (at(*base, "versions", index, name) if name else None) or item or place
        out[asset, version, name] = place
    return out


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _display(path: Path | str) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative
