"""The embedded gallery: one SQLite file holding assets, catalog and audit log."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gallery_sync.errors import GalleryUnavailable, StoreError
from gallery_sync.gallery import AuditEntry, WriteRequest, migrations
from gallery_sync.gallery.service import (
    AuditRecord,
    Outcome,
    StoredWrite,
    write_asset,
    write_assets,
)
from gallery_sync.gallery.sqlstore import SqlTables, TxTables, rows_of
from gallery_sync.model import (
    Application,
    Asset,
    Catalog,
    DurationLimit,
    GalleryState,
    Status,
    Version,
    Visibility,
    version_key,
)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def sqlite_path(url: str) -> Path:
    """sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise GalleryUnavailable(f"bad SQLite gallery URL {url!r}; expected sqlite:///PATH")
    return Path(url[len(prefix) :])


class _Tx(TxTables):
    """The store side of one transaction, as the gallery service sees it."""

    def __init__(self, db: sqlite3.Connection, cache: dict[str, tuple[str, Catalog]]) -> None:
        self.db = db
        self.cache = cache
        self.savepoints = 0
        self.lost: StoreError | None = None  # set once SQLite has rolled the transaction back

    def get_assets(self, asset_ids: Collection[str]) -> dict[str, Asset]:
        return _read_assets(self.db, asset_ids)

    def known_covers(self, sha256s: Collection[str]) -> set[str]:
        if not sha256s:
            return set()
        rows = self.db.execute(
            "SELECT sha256 FROM covers WHERE sha256 IN (SELECT value FROM json_each(?))",
            (json.dumps(list(sha256s)),),
        )
        return {row[0] for row in rows}

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        if self.lost is not None:
            raise self.lost
        self.savepoints += 1
        name = f"write_{self.savepoints}"
        try:
            self.db.execute(f"SAVEPOINT {name}")
        except sqlite3.Error as exc:
            raise self.failure(exc) from exc
        try:
            yield
        except BaseException as exc:
            if not self.db.in_transaction:  # SQLite rolled it all back (disk full, I/O error)
                if self.lost is None:
                    self.lost = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                raise
            try:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
            except sqlite3.Error as undo:
                raise self.failure(undo) from exc
            raise
        try:
            self.db.execute(f"RELEASE {name}")
        except sqlite3.Error as exc:
            raise self.failure(exc) from exc

    def failure(self, exc: sqlite3.Error) -> StoreError:
        """The StoreError for `exc`. If SQLite rolled the whole transaction back, as it does on
        a full disk or an I/O error, nothing more may be written in it: a savepoint outside a
        transaction would begin and commit one of its own, outside the write lock's care."""
        error = store_error(exc, self.db)
        if not self.db.in_transaction and self.lost is None:
            self.lost = error
        return error

    def store(self, writes: Sequence[StoredWrite], audit: Sequence[AuditRecord] = ()) -> None:
        db = self.db
        try:
            for statement, rows in rows_of(writes, audit).statements():
                db.executemany(statement, rows)
        except sqlite3.Error as exc:
            raise self.failure(exc) from exc

    def catalog(self) -> Catalog:
        # Read once per catalog version: a write checks against the catalog, and reading tens
        # of thousands of applications per write would make apply quadratic.
        row = self.db.execute("SELECT value FROM meta WHERE key = 'catalog_version'").fetchone()
        version = row[0] if row else "0"
        cached = self.cache.get("catalog")
        if cached is not None and cached[0] == version:
            return cached[1]
        catalog = self._read_catalog()
        self.cache["catalog"] = (version, catalog)
        return catalog

    def _read_catalog(self) -> Catalog:
        db = self.db
        registries = db.execute(
            "SELECT value FROM meta WHERE key = 'allowed_registries'"
        ).fetchone()
        return Catalog(
            categories=frozenset(r[0] for r in db.execute("SELECT id FROM categories")),
            agreements=frozenset(r[0] for r in db.execute("SELECT id FROM agreements")),
            applications=_Applications(db),
            allowed_registries=tuple(json.loads(registries[0])) if registries else (),
        )


class _Applications(Mapping[tuple[str, str], Application]):
    """(region, name) -> Application, read as needed: a plan that adds a few versions looks
    those up one by one; past POINT_LOOKUPS, or when iterated, the whole table is read once.
    A plan that adds no version never reads the tens of thousands a catalog holds."""

    POINT_LOOKUPS = 1000

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db: sqlite3.Connection | None = db
        self._known: dict[tuple[str, str], Application | None] = {}

    @property
    def _all(self) -> dict[tuple[str, str], Application | None]:
        if self._db is not None:
            query = "SELECT region, name, image FROM applications WHERE account = ''"
            try:
                rows = self._db.execute(query).fetchall()
            except sqlite3.Error as exc:
                raise _read_failure(self._db, exc) from exc
            self._known = {(r, n): Application(n, r, i) for r, n, i in rows}
            self._db = None
        return self._known

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        known = self._known if self._db is None else self._point(key)
        found = known.get(key)
        return default if found is None else found

    def _point(self, key: tuple[str, str]) -> dict[tuple[str, str], Application | None]:
        if key in self._known:
            return self._known
        if self._db is None or len(self._known) >= self.POINT_LOOKUPS:
            return self._all
        try:
            row = self._db.execute(
                "SELECT image FROM applications WHERE account = '' AND region = ? AND name = ?",
                key,
            ).fetchone()
        except sqlite3.Error as exc:
            raise _read_failure(self._db, exc) from exc
        self._known[key] = Application(key[1], key[0], row[0]) if row else None
        return self._known

    def __getitem__(self, key: tuple[str, str]) -> Application:
        found: Application | None = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return (k for k, v in self._all.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_ASSETS_QUERY = """
SELECT id, publisher, title, cover, description, categories, visibility, duration_limit, status,
       revision
FROM assets"""
_VERSIONS_QUERY = (
    "SELECT asset_id, version, region, ai_application, description, status FROM versions"
)


_DECODERS = (tuple, Visibility.from_json, DurationLimit.from_json)


def _read_assets(db: sqlite3.Connection, only: Collection[str] | None = None) -> dict[str, Asset]:
    """Every asset (or `only` those); GalleryUnavailable naming the damage if one cannot be
    read."""
    try:
        return _decode_assets(db, only)
    except _READ_FAILURES as exc:
        raise _read_failure(db, exc, lambda: _explain_assets(db, only)) from exc


def _decode_assets(db: sqlite3.Connection, only: Collection[str] | None = None) -> dict[str, Asset]:
    """Every asset (or `only` those), versions in version order: two flat queries, each stored
    JSON value decoded once per distinct text (visibility and duration limits repeat across
    thousands of assets)."""
    where = " WHERE {} IN (SELECT value FROM json_each(?))" if only is not None else ""
    args = (json.dumps(list(only)),) if only is not None else ()
    versions: dict[str, list[Version]] = {}
    rows = db.execute(_VERSIONS_QUERY + where.format("asset_id"), args)
    for asset_id, number, region, app, description, status in rows:
        version = Version(number, region, app, description, Status.of(status))
        found = versions.get(asset_id)
        if found is None:
            versions[asset_id] = [version]
        else:
            found.append(version)
    decoded: dict[tuple[int, str], Any] = {}

    def decode(kind: int, text: str) -> Any:
        value = decoded.get((kind, text))
        if value is None:
            value = decoded[(kind, text)] = _DECODERS[kind](json.loads(text))
        return value

    out = {}
    for row in db.execute(_ASSETS_QUERY + where.format("id"), args):
        asset_id = row[0]
        mine = versions.get(asset_id, [])
        mine.sort(key=Version.order)
        out[asset_id] = Asset(
            id=asset_id,
            publisher=row[1],
            title=row[2],
            versions=tuple(mine),
            cover=row[3],
            description=row[4],
            categories=decode(0, row[5]),
            visibility=decode(1, row[6]),
            duration_limit=decode(2, row[7]),
            status=Status.of(row[8]),
            revision=row[9],
        )
    return out


# --- A damaged gallery: what a read raises, turned into one line saying what is wrong ---

# What decoding a damaged row may raise: a missing table or column, text that is not JSON, a
# NULL where a value must be, an unknown status or visibility.
_READ_FAILURES = (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError, IndexError)


class _Bad(Exception):
    """One stored value that cannot be what its column holds; the message says how."""


def _db_path(db: sqlite3.Connection) -> str:
    try:
        return str(db.execute("PRAGMA database_list").fetchone()[2])
    except (sqlite3.Error, TypeError, IndexError):
        return "(unknown file)"


def _read_failure(
    db: sqlite3.Connection, exc: BaseException, explain: Callable[[], str | None] = lambda: None
) -> GalleryUnavailable:
    """The error a failed read stops the command with: a lock or a permission is said as such;
    anything else means the file is damaged, and says where (explain() finds the first bad
    value) or what SQLite said."""
    path = _db_path(db)
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and any(
        word in text for word in ("locked", "unable to open", "readonly", "disk I/O")
    ):
        return GalleryUnavailable(f"cannot read the gallery {path}: {text}")
    try:
        detail = explain()
    except Exception:  # explaining is best effort: the first error is still reported
        detail = None
    if detail is None:
        plain = isinstance(exc, (sqlite3.Error, _Bad))
        detail = text if plain else f"{type(exc).__name__}: {text}"
    return GalleryUnavailable(f"gallery {path} is damaged: {detail}")


def _text(value: object) -> str:
    if value is None:
        raise _Bad("NULL")
    if not isinstance(value, str):
        raise _Bad(f"not text but {type(value).__name__}")
    return value


def _optional_text(value: object) -> object:
    return None if value is None else _text(value)


def _integer(value: object) -> object:
    if not isinstance(value, int):
        raise _Bad("NULL" if value is None else f"not a whole number but {value!r}")
    return value


def _json(decode: Callable[[Any], Any]) -> Callable[[object], object]:
    def check(value: object) -> object:
        text = _text(value)
        try:
            data = json.loads(text)
        except ValueError:
            raise _Bad("not JSON") from None
        try:
            return decode(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _Bad(f"not a valid value ({text[:40]!r}: {type(exc).__name__})") from None

    return check


def _status(value: object) -> object:
    text = _text(value)
    if text not in _STATUSES:
        raise _Bad(f"{text[:40]!r}, not one of {', '.join(_STATUSES)}")
    return text


def _version_number(value: object) -> object:
    text = _text(value)
    try:
        version_key(text)
    except ValueError:
        raise _Bad(f"{text[:40]!r}, not x.x.x") from None
    return text


_STATUSES = tuple(s.value for s in Status)
_ASSET_COLUMNS: tuple[tuple[str, Callable[[object], object]], ...] = (
    ("id", _text),
    ("publisher", _text),
    ("title", _text),
    ("cover", _optional_text),
    ("description", _text),
    ("categories", _json(lambda data: [_text(c) for c in data])),
    ("visibility", _json(Visibility.from_json)),
    ("duration_limit", _json(DurationLimit.from_json)),
    ("status", _status),
    ("revision", _integer),
)
_VERSION_COLUMNS: tuple[tuple[str, Callable[[object], object]], ...] = (
    ("asset_id", _text),
    ("version", _version_number),
    ("region", _text),
    ("ai_application", _text),
    ("description", _text),
    ("status", _status),
)


def _change(row: tuple[Any, ...]) -> dict[str, Any]:
    """An audit entry's change, or _Bad naming the entry."""
    for column, value in zip(("time", "account", "asset"), row[1:4], strict=True):
        try:
            _text(value)
        except _Bad as bad:
            raise _Bad(f"audit.{column} of entry #{row[0]} is {bad}") from None
    try:
        change = json.loads(_text(row[4]))
    except (_Bad, ValueError):
        raise _Bad(f"audit.change of entry #{row[0]} is not JSON") from None
    if not isinstance(change, dict):
        raise _Bad(f"audit.change of entry #{row[0]} is not a JSON object")
    return change


def _first_bad(
    db: sqlite3.Connection,
    table: str,
    columns: tuple[tuple[str, Callable[[object], object]], ...],
    name: Callable[[tuple[Any, ...]], str],
) -> str | None:
    """`table.column of NAME is HOW` for the first stored value its column cannot hold."""
    query = f"SELECT {', '.join(c for c, _ in columns)} FROM {table}"
    try:
        rows = db.execute(query).fetchall()
    except sqlite3.Error as exc:
        return f"table {table}: {exc}"
    for row in rows:
        for (column, check), value in zip(columns, row, strict=True):
            try:
                check(value)
            except _Bad as bad:
                return f"{table}.{column} of {name(row)} is {bad}"
    return None


def _explain_assets(db: sqlite3.Connection, only: Collection[str] | None) -> str | None:
    return _first_bad(db, "versions", _VERSION_COLUMNS, lambda r: f"{r[0]!r} {r[1]}") or (
        _first_bad(db, "assets", _ASSET_COLUMNS, lambda r: repr(r[0]))
    )


LOCK_TIMEOUT_VARIABLE = "GALLERY_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30.0  # seconds a write waits for another writer's lock


def lock_timeout() -> float:
    """How long a write waits for the gallery's write lock: GALLERY_LOCK_TIMEOUT seconds."""
    raw = os.environ.get(LOCK_TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise GalleryUnavailable(
            f"{LOCK_TIMEOUT_VARIABLE}={raw!r}: expected a number of seconds from 0 to 86400"
        )
    return seconds


# What a store failure means, by SQLite's words: said so that a person knows what to do.
_STORE_FAILURES = (
    (
        "locked",
        "another process held the gallery's write lock for longer than {timeout:g} s "
        "(" + LOCK_TIMEOUT_VARIABLE + "); try again when it is done",
    ),
    ("readonly", "the gallery is read-only here; check the permissions of {path} and its folder"),
    ("disk is full", "the disk holding the gallery {path} is full"),
    ("disk I/O", "the gallery {path} could not be written (a full disk, a file size limit)"),
)


def store_error(exc: sqlite3.Error, db: sqlite3.Connection) -> StoreError:
    """A store failure as one line: SQLite's words, what they mean, and which gallery."""
    text = str(exc)
    path = _db_path(db)
    for word, meaning in _STORE_FAILURES:
        if word in text:
            return StoreError(f"{text}: {meaning.format(timeout=lock_timeout(), path=path)}")
    return StoreError(f"{text} (gallery {path})")


def _no_gallery(path: Path, *, empty: bool = False) -> str:
    what = f"the file {path} is empty, not a gallery" if empty else f"there is no gallery at {path}"
    return (
        f"{what}; `gallery-sync apply` (or `gallery-sync apps add`) creates the embedded "
        "gallery, or pass --gallery URL"
    )


class _Refused(Exception):
    """Why a file cannot be opened as a gallery (it was left untouched)."""


def _inspect(db: sqlite3.Connection) -> int | None:
    """The gallery's format version, None for an empty database (a gallery may be created in
    it); None of its bytes change.

    Refuses (_Refused) a file that is not SQLite, a database of someone else's (tables, but
    not a gallery's meta) and a gallery of a newer format than this version's.
    """
    try:
        found = migrations.found_version(db, migrations.SQLITE)
        migrations.refuse_newer(found)
    except sqlite3.OperationalError as exc:  # not a verdict on the file: it could not be read
        raise _Refused(
            f"{exc}; check that the file and its folder are readable and writable (SQLite "
            "writes beside a gallery even to read it)"
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise _Refused(f"it is not a gallery ({exc}); it was left untouched") from exc
    except migrations.SchemaRefused as exc:
        raise _Refused(str(exc)) from exc
    return found


class LocalGallery(SqlTables):
    """The embedded gallery; single-user: whoever runs it writes as publisher.account."""

    def __init__(self, url: str, db: sqlite3.Connection) -> None:
        self.url = url
        self.db = db
        self._cache: dict[str, tuple[str, Catalog]] = {}

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> LocalGallery:
        """Open the gallery file; create it (and its .gallery/ folder, not further) only if asked.

        `url` is kept canonical: sqlite:/// and the absolute path, so that a saved plan names
        the same gallery whichever directory it is applied from. A file that is not a gallery
        (another SQLite database, not SQLite at all) or a gallery of a newer format is refused
        before anything is written to it.
        """
        path = sqlite_path(url)
        if not path.exists():
            if not create:
                raise GalleryUnavailable(_no_gallery(path))
            if not path.parent.is_dir() and not path.parent.parent.is_dir():
                raise GalleryUnavailable(
                    f"cannot create the gallery at {path}: the directory {path.parent.parent} "
                    "does not exist"
                )
        elif not path.is_file():
            raise GalleryUnavailable(f"the gallery {path} is not a file")
        url = f"sqlite:///{path.resolve()}"
        try:
            timeout = lock_timeout()
            if create:
                path.parent.mkdir(exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, timeout=timeout)
            try:
                found = _inspect(db)
                if found is None and not create:
                    raise GalleryUnavailable(_no_gallery(path, empty=True))
                db.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL survives a killed process intact; only power loss may drop
                # the last transactions (never corrupt the file).
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
                gallery = cls(url, db)
                if found != migrations.LATEST:  # new, or of an older format: migrated in place
                    gallery._initialise()
            except BaseException:
                db.close()
                raise
        except (sqlite3.DatabaseError, StoreError, _Refused, migrations.SchemaRefused) as exc:
            raise GalleryUnavailable(f"cannot open the gallery at {path}: {exc}") from exc
        except OSError as exc:
            raise GalleryUnavailable(f"cannot open the gallery at {path}: {exc.strerror}") from exc
        return gallery

    def _initialise(self) -> None:
        with self.transaction() as tx:
            migrations.migrate(tx.db, migrations.SQLITE)

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        # IMMEDIATE takes the write lock up front, so the revision read inside is still the
        # revision when the write commits: two writers are serialised, never interleaved.
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self.db, self._cache)
                self.db.execute("COMMIT")
            finally:
                if self.db.in_transaction:  # an exception, or a failed COMMIT
                    self.db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise store_error(exc, self.db) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self.transaction() as tx:
            yield tx.db

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self.db.execute(sql, args).fetchall()
        except _READ_FAILURES as exc:
            raise _read_failure(self.db, exc) from exc

    def account(self) -> str | None:
        return None

    def catalog(self) -> Catalog:
        try:
            return _Tx(self.db, self._cache).catalog()
        except _READ_FAILURES as exc:
            raise _read_failure(self.db, exc) from exc

    def read_state(self) -> GalleryState:
        return GalleryState(_read_assets(self.db))

    def write_assets(self, requests: Sequence[WriteRequest]) -> Iterator[list[Outcome]]:
        return write_assets(self, requests)

    def write_asset(self, request: WriteRequest) -> int:
        return write_asset(self, request)

    def history(self, asset_id: str | None = None) -> list[AuditEntry]:
        query = "SELECT id, time, account, asset, change, plan_hash, message FROM audit"
        args: tuple[str, ...] = ()
        if asset_id is not None:
            query += " WHERE asset = ?"
            args = (asset_id,)
        try:
            rows = self.db.execute(query + " ORDER BY id DESC", args).fetchall()
            return [AuditEntry(r[0], r[1], r[2], r[3], _change(r), r[5], r[6]) for r in rows]
        except (*_READ_FAILURES, _Bad) as exc:
            raise _read_failure(self.db, exc) from exc

    def cover(self, sha256: str) -> bytes | None:
        try:
            row = self.db.execute("SELECT data FROM covers WHERE sha256 = ?", (sha256,)).fetchone()
            return bytes(row[0]) if row else None
        except _READ_FAILURES as exc:
            raise _read_failure(self.db, exc) from exc

    def close(self) -> None:
        self.db.close()
