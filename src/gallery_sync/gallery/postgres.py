"""The PostgreSQL store: the gallery's tables on a server that many `serve` processes share.

psycopg is imported here only, and this module only when a postgresql:// URL is opened.
Concurrency: a write transaction takes a transaction-scoped advisory lock per asset id (in
one global order, so two batches never deadlock) before it reads the assets it will write,
then reads them FOR UPDATE: the revision a write is checked against is still the revision
when it commits, whichever process writes, and two creates of one new id cannot both pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import orjson
import psycopg

from gallery_sync.errors import GalleryUnavailable, StoreError
from gallery_sync.gallery import migrations
from gallery_sync.gallery.search import tsquery
from gallery_sync.gallery.service import AuditRecord, StoredWrite
from gallery_sync.gallery.sqlstore import (
    ASSET_COLUMNS,
    ASSET_ROW,
    AUDIT_ROW,
    SAVE_ASSETS,
    SAVE_COVERS,
    SAVE_SUBSCRIPTION,
    SAVE_VERSIONS,
    VERSION_COLUMNS,
    VERSION_ROW,
    CatalogReads,
    SqlTables,
    TxTables,
    assets_from_rows,
    rows_of,
)
from gallery_sync.model import Asset

# Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)).
_LOCK_MIGRATE = 0x67730001
_LOCK_ASSET = 0x67730002
_LOCK_IDEMPOTENCY = 0x67730003
CONNECT_TIMEOUT = 10  # seconds


@lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """Our `?` placeholders as psycopg's `%s` (no statement of ours holds a literal % or ?)."""
    return sql.replace("?", "%s")


def _lock_key(asset_id: str) -> int:
    """A stable 32-bit key per asset id, the same in every process."""
    digest = hashlib.blake2b(asset_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class _Db:
    """A psycopg connection spoken to with `?` placeholders, as the shared SQL is written."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self.conn.execute(_pg(sql), args or None)

    def executemany(self, sql: str, args: Any, /) -> None:
        rows = list(args)
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(_pg(sql), rows)


class _PgReads(CatalogReads):
    """Reads on the store's one connection (in a transaction, or outside one)."""

    JSON_ROWS = "jsonb_array_elements(?::jsonb)"
    db: _Db
    shown: str
    READ_ERRORS = (psycopg.Error,)

    def _damaged(self, exc: Exception) -> Exception:
        return GalleryUnavailable(f"cannot read the gallery {self.shown}: {_first_line(exc)}")


class _PgTx(_PgReads, TxTables):
    """One write transaction of the PostgreSQL store, as the gallery service sees it."""

    def __init__(self, store: PostgresStore) -> None:
        self.store_ = store
        self.db = store.db
        self.shown = store.url

    def get_assets(self, asset_ids: Collection[str]) -> dict[str, Asset]:
        ids = sorted(set(asset_ids))
        if not ids:
            return {}
        try:
            self.db.execute(
                "SELECT pg_advisory_xact_lock(?::integer, k) FROM unnest(?::integer[]) AS t(k) "
                "ORDER BY k",
                (_LOCK_ASSET, sorted({_lock_key(i) for i in ids})),
            ).fetchall()
        except psycopg.Error as exc:
            raise self.store_.failure(exc) from exc
        return self.store_.assets(ids=ids, lock=True)

    def claim(self, key: str, account: str) -> str | None:
        """Wait for this key of this account (a transaction-scoped advisory lock: a concurrent
        request with the same key, in any process, waits until this transaction ends), then
        what is kept so far for it."""
        try:
            self.db.execute(
                "SELECT pg_advisory_xact_lock(?::integer, ?::integer)",
                (_LOCK_IDEMPOTENCY, _lock_key(f"{account}\n{key}")),
            ).fetchall()
        except psycopg.Error as exc:
            raise self.store_.failure(exc) from exc
        return super().claim(key, account)

    def known_covers(self, sha256s: Collection[str]) -> set[str]:
        if not sha256s:
            return set()
        rows = self.db.execute(
            "SELECT sha256 FROM covers WHERE sha256 = ANY(?)", (list(sha256s),)
        ).fetchall()
        return {row[0] for row in rows}

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        try:
            with self.db.conn.transaction():
                yield
        except psycopg.Error as exc:
            raise self.store_.failure(exc) from exc

    def store(self, writes: Sequence[StoredWrite], audit: Sequence[AuditRecord] = ()) -> None:
        """New assets, their versions and the audit records by COPY (about twice as fast as
        executemany); changed assets and their versions as upserts. A new asset's id is locked
        (get_assets) and was read absent, so a row of it in the way is a unique violation that
        fails the write, never an overwrite."""
        rows = rows_of(writes, audit)
        new_assets, changed_assets = _split(rows.assets, rows.created)
        new_versions, changed_versions = _split(rows.versions, rows.created)
        try:
            with self.db.conn.cursor() as cursor:
                self.db.executemany(SAVE_COVERS, rows.covers)
                _copy(cursor, "assets", ASSET_ROW, new_assets)
                self.db.executemany(SAVE_ASSETS, changed_assets)
                _copy(cursor, "versions", VERSION_ROW, new_versions)
                self.db.executemany(SAVE_VERSIONS, changed_versions)
                if rows.digests:  # after the versions (see SAVE_DIGESTS), in one statement
                    digests, ids = zip(*rows.digests, strict=True)
                    self.db.execute(
                        "UPDATE assets SET state_digest = d.digest "
                        "FROM unnest(?::text[], ?::text[]) AS d(digest, id) WHERE assets.id = d.id",
                        (list(digests), list(ids)),
                    )
                _copy(cursor, "audit", AUDIT_ROW, rows.audit)
                self.db.executemany(SAVE_SUBSCRIPTION, rows.subscriptions)
        except psycopg.Error as exc:
            raise self.store_.failure(exc) from exc


def _split(
    rows: list[tuple[Any, ...]], created: frozenset[str]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of created assets (their first column is the asset id), and the others."""
    if not created:
        return [], rows
    new: list[tuple[Any, ...]] = []
    other: list[tuple[Any, ...]] = []
    for row in rows:
        (new if row[0] in created else other).append(row)
    return new, other


def _copy(
    cursor: psycopg.Cursor[Any], table: str, columns: str, rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # names: ours
            for row in rows:
                copy.write_row(row)


class PostgresStore(_PgReads, SqlTables):
    """The gallery's tables in one PostgreSQL database (gallery.service.Store: it decides no
    rule). Its `url` is the one it was opened with, without the password (for messages and
    saved plans)."""

    def __init__(self, url: str, conn: psycopg.Connection[Any]) -> None:
        self.url = self.shown = shown(url)
        self.db = _Db(conn)

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> PostgresStore:
        """Connect, and migrate the schema to this version's (creating it only if asked).

        A database of a newer format, or with tables that are not a gallery's, is refused
        (GalleryUnavailable) before anything is written to it.
        """
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise GalleryUnavailable(
                f"cannot open the gallery at {shown(url)}: {_first_line(exc)}"
            ) from exc
        store = cls(url, conn)
        try:
            found = migrations.found_version(store.db, migrations.POSTGRESQL)
            migrations.refuse_newer(found)
            if found is None and not create:
                raise GalleryUnavailable(
                    f"there is no gallery in {shown(url)} (the database has no tables); "
                    "`gallery-sync apply` (or `gallery-sync serve`) creates one"
                )
            if found != migrations.LATEST:
                with conn.transaction():
                    # Two processes starting on one new database migrate it once.
                    lock = "SELECT pg_advisory_xact_lock(?::integer, 0)"
                    store.db.execute(lock, (_LOCK_MIGRATE,))
                    migrations.migrate(store.db, migrations.POSTGRESQL)
        except migrations.SchemaRefused as exc:
            conn.close()
            raise GalleryUnavailable(f"cannot open the gallery at {shown(url)}: {exc}") from exc
        except psycopg.Error as exc:
            conn.close()
            raise GalleryUnavailable(
                f"cannot open the gallery at {shown(url)}: {_first_line(exc)}"
            ) from exc
        except BaseException:
            conn.close()
            raise
        return store

    def failure(self, exc: psycopg.Error) -> StoreError:
        return StoreError(f"{_first_line(exc)} (gallery {self.url})")

    # --- The write side --------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[_PgTx]:
        try:
            with self.db.conn.transaction():
                yield _PgTx(self)
        except psycopg.Error as exc:
            raise self.failure(exc) from exc

    # --- The read side ---------------------------------------------------------------------

    def assets(
        self,
        *,
        ids: Collection[str] | None = None,
        publisher: str | None = None,
        cover: str | None = None,
        lock: bool = False,
    ) -> dict[str, Asset]:
        """The assets matching every filter given (all of them with none). `lock`: FOR
        UPDATE, inside a write transaction."""
        where: list[str] = []
        args: list[object] = []
        if cover is not None:
            where.append("cover = ?")
            args.append(cover)
        if ids is not None:
            where.append("id = ANY(?)")
            args.append(list(ids))
        if publisher is not None:
            where.append("publisher = ?")
            args.append(publisher)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        of_assets = f" WHERE asset_id IN (SELECT id FROM assets{clause})" if where else ""
        try:
            asset_rows = self.db.execute(
                f"SELECT {ASSET_COLUMNS} FROM assets{clause}"
                + (" ORDER BY id FOR UPDATE" if lock else ""),
                args,
            ).fetchall()
            version_rows = self.db.execute(
                f"SELECT {VERSION_COLUMNS} FROM versions{of_assets}", args
            ).fetchall()
        except psycopg.Error as exc:
            raise self._damaged(exc) from exc
        return assets_from_rows(version_rows, asset_rows)

    def owners(self, ids: Collection[str]) -> dict[str, str]:
        """id -> publisher of those of `ids` that exist."""
        rows = self._rows("SELECT id, publisher FROM assets WHERE id = ANY(?)", (list(ids),))
        return dict(rows)

    # Searching released assets: the tsvector column of migration 3, JSON as jsonb.
    TEXT_MATCH = "a.search @@ to_tsquery('simple', ?)"
    CATEGORY_ROWS = "jsonb_array_elements_text(a.categories::jsonb) AS c(value)"
    LISTED = (
        "(left(a.visibility, 1) = '{' AND "
        "(a.visibility::jsonb -> 'specific_users') @> to_jsonb(?::text))"
    )

    def _text_query(self, words: list[str]) -> str:
        return tsquery(words)

    def _audit_change(self, row: tuple[Any, ...]) -> dict[str, Any]:
        value = orjson.loads(row[4])
        return value if isinstance(value, dict) else {}

    def close(self) -> None:
        self.db.conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
