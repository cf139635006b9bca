"""The SQLite store: one file holding assets, catalog and audit log (the embedded gallery,
behind the gallery service)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gallery_sync.errors import GalleryUnavailable, StoreError
from gallery_sync.gallery import migrations
from gallery_sync.gallery.service import AuditRecord, StoredWrite
from gallery_sync.gallery.sqlstore import (
    ASSET_COLUMNS,
    STATE_DIGESTS,
    VERSION_COLUMNS,
    CatalogReads,
    Damaged,
    SqlTables,
    TxTables,
    assets_from_rows,
    digests_from_rows,
    rows_of,
)
from gallery_sync.model import (
    Asset,
    DurationLimit,
    Status,
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


class _CatalogReads(CatalogReads):
    """The catalog as stored, read in a transaction or outside one (CatalogSource)."""

    db: sqlite3.Connection
    READ_ERRORS = (sqlite3.Error,)

    def _damaged(self, exc: Exception) -> Exception:
        return _read_failure(self.db, exc)


class _Tx(_CatalogReads, TxTables):
    """The store side of one transaction, as the gallery service sees it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
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
        try:
            for statement, rows in rows_of(writes, audit).statements():
                self.db.executemany(statement, rows)
        except sqlite3.Error as exc:
            raise self.failure(exc) from exc


_DECODERS: tuple[Callable[[Any], Any], ...] = ()  # set below: _categories, _visibility, ...


def _read_assets(db: sqlite3.Connection, only: Collection[str] | None = None) -> dict[str, Asset]:
    """Every asset (or `only` those); GalleryUnavailable naming the damage if one cannot be
    read."""
    try:
        return _decode_assets(db, only)
    except (*_READ_FAILURES, _Bad) as exc:
        raise _read_failure(db, exc, lambda: _explain_assets(db, only)) from exc


def _decode_assets(db: sqlite3.Connection, only: Collection[str] | None = None) -> dict[str, Asset]:
    """Every asset (or `only` those), versions in version order: two flat queries, every
    stored value checked (SQLite's columns hold whatever was put in them)."""
    where = " WHERE {} IN (SELECT value FROM json_each(?))" if only is not None else ""
    args = (json.dumps(list(only)),) if only is not None else ()
    return assets_from_rows(
        db.execute(f"SELECT {VERSION_COLUMNS} FROM versions" + where.format("asset_id"), args),
        db.execute(f"SELECT {ASSET_COLUMNS} FROM assets" + where.format("id"), args),
        text=_text,
        optional_text=_optional_text,
        integer=_integer,
        decoders=_DECODERS,
    )


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
        plain = isinstance(exc, (sqlite3.Error, _Bad, Damaged))
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
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Bad("NULL" if value is None else f"not a whole number but {_cut(value)}")
    return value


def _cut(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _strings(data: object, what: str) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise _Bad(f"not a list of {what}")
    return data


def _categories(data: object) -> tuple[str, ...]:
    return tuple(_strings(data, "category names"))


def _patterns(data: object) -> list[str]:
    return _strings(data, "registry patterns")


def _visibility(data: object) -> Visibility:
    if isinstance(data, dict) and set(data) == {"specific_users"}:
        _strings(data["specific_users"], "user names")
    elif data not in ("only_me", "public"):
        raise _Bad("not a visibility (only_me, public or {specific_users: [...]})")
    return Visibility.from_json(data)


_MAX_DAYS = 3650  # as schemas/gallery.schema.json: duration_limit.days 1..3650


def _duration_limit(data: object) -> DurationLimit:
    if data is None or data == "unlimited":
        return DurationLimit()
    if isinstance(data, dict) and set(data) <= {"days", "auto_renew"}:
        days, renew = data.get("days"), data.get("auto_renew", False)
        if type(days) is int and 1 <= days <= _MAX_DAYS and isinstance(renew, bool):
            return DurationLimit(days, renew)
    raise _Bad(f"not a duration limit ('unlimited' or days 1..{_MAX_DAYS}, auto_renew)")


_DECODERS = (_categories, _visibility, _duration_limit)


def _json(decode: Callable[[Any], Any]) -> Callable[[object], object]:
    def check(value: object) -> object:
        text = _text(value)
        try:
            data = json.loads(text)
        except ValueError:
            raise _Bad("not JSON") from None
        try:
            return decode(data)
        except _Bad as bad:
            raise _Bad(f"{bad}: {_cut(text)}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _Bad(f"not a valid value ({_cut(text)}: {type(exc).__name__})") from None

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
    ("categories", _json(_categories)),
    ("visibility", _json(_visibility)),
    ("duration_limit", _json(_duration_limit)),
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


def _exists(path: Path) -> bool:
    """Whether `path` exists; a file system that will not say (a folder we may not search) is
    GalleryUnavailable saying so, never a guess."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise GalleryUnavailable(f"cannot open the gallery at {path}: {exc.strerror}") from exc
    return True


def _writable(path: Path) -> bool:
    """Whether we may write the gallery file and its folder (SQLite writes its journal there)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=timeout)


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection. A WAL gallery needs its -shm file even to be read; where none
    exists and the folder is read-only, no writer is at work (a writer keeps one), so the file
    is read as immutable."""
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
    return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, timeout=timeout)


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


class SqliteStore(_CatalogReads, SqlTables):
    """The SQLite store (gallery.service.Store): keeps and finds; the service decides."""

    def __init__(self, url: str, db: sqlite3.Connection) -> None:
        self.url = url
        self.db = db

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> SqliteStore:
        """Open the gallery file; create it (and its .gallery/ folder, not further) only if asked.

        `url` is kept canonical: sqlite:/// and the absolute path, so that a saved plan names
        the same gallery whichever directory it is applied from. A file that is not a gallery
        (another SQLite database, not SQLite at all) or a gallery of a newer format is refused
        before anything is written to it.
        """
        path = sqlite_path(url)
        if not _exists(path):
            if not create:
                raise GalleryUnavailable(_no_gallery(path))
            if not os.path.isdir(path.parent) and not os.path.isdir(path.parent.parent):
                raise GalleryUnavailable(
                    f"cannot create the gallery at {path}: the directory {path.parent.parent} "
                    "does not exist"
                )
        elif not os.path.isfile(path):
            raise GalleryUnavailable(f"the gallery {path} is not a file")
        url = f"sqlite:///{path.resolve()}"
        try:
            timeout = lock_timeout()
            if create:
                path.parent.mkdir(exist_ok=True)
            # A gallery we may not write (file or folder read-only) is still read: opened
            # read-only, nothing is written to it, not even the journal mode.
            read_only = not create and not _writable(path)
            db = _connect_read_only(path, timeout) if read_only else _connect(path, timeout)
            try:
                found = _inspect(db)
                if found is None and not create:
                    raise GalleryUnavailable(_no_gallery(path, empty=True))
                if not read_only:
                    db.execute("PRAGMA journal_mode = WAL")
                    # In WAL mode NORMAL survives a killed process intact; only power loss may
                    # drop the last transactions (never corrupt the file).
                    db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
                gallery = cls(url, db)
                if found != migrations.LATEST:  # new, or of an older format: migrated in place
                    gallery._migrate()
            except BaseException:
                db.close()
                raise
        except (sqlite3.DatabaseError, StoreError, _Refused) as exc:
            raise GalleryUnavailable(f"cannot open the gallery at {path}: {exc}") from exc
        except OSError as exc:
            raise GalleryUnavailable(f"cannot open the gallery at {path}: {exc.strerror}") from exc
        return gallery

    def _migrate(self) -> None:
        with self.transaction() as tx:
            migrations.migrate(tx.db, migrations.SQLITE)

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        # IMMEDIATE takes the write lock up front, so the revision read inside is still the
        # revision when the write commits: two writers are serialised, never interleaved.
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self.db)
                self.db.execute("COMMIT")
            finally:
                if self.db.in_transaction:  # an exception, or a failed COMMIT
                    self.db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise store_error(exc, self.db) from exc

    def assets(
        self,
        *,
        ids: Collection[str] | None = None,
        publisher: str | None = None,
        cover: str | None = None,
    ) -> dict[str, Asset]:
        if cover is not None:
            found = [r[0] for r in self._rows("SELECT id FROM assets WHERE cover = ?", (cover,))]
            ids = found if ids is None else set(found) & set(ids)
        assets = _read_assets(self.db, ids)
        if publisher is None:
            return assets
        # One read of everything, filtered here: the embedded gallery holds one publisher's
        # assets, and a second query by publisher would only cost time. (PostgreSQL: WHERE.)
        return {k: a for k, a in assets.items() if a.publisher == publisher}

    def state_digests(self, publisher: str) -> dict[str, tuple[str | None, int]]:
        # The columns an asset is read from are asked for too, without a row: a gallery damaged
        # so that no asset can be read (a column gone) is said so, as by `assets`.
        try:
            self.db.execute(f"SELECT {ASSET_COLUMNS} FROM assets LIMIT 0").fetchall()
            self.db.execute(f"SELECT {VERSION_COLUMNS} FROM versions LIMIT 0").fetchall()
            return digests_from_rows(self.db.execute(STATE_DIGESTS, (publisher,)))
        except sqlite3.Error as exc:
            raise _read_failure(self.db, exc, lambda: _explain_assets(self.db, None)) from exc

    def owners(self, ids: Collection[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = self._rows(
            "SELECT id, publisher FROM assets WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {r[0]: r[1] for r in rows}

    def _audit_change(self, row: tuple[Any, ...]) -> dict[str, Any]:
        try:
            return _change(row)
        except _Bad as exc:
            raise _read_failure(self.db, exc) from exc

    def close(self) -> None:
        self.db.close()
