"""What the SQLite and PostgreSQL stores do alike, in the SQL both understand: the catalog
(accounts' applications, the operator's settings), pages of assets, the audit log, covers,
tokens, subscriptions, idempotent replies, and the rows a batch of writes adds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gallery_sync import shape
from gallery_sync.diagnostics import Diagnostic
from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import AuditEntry, Subscription, Token
from gallery_sync.gallery.migrations import Database
from gallery_sync.gallery.search import SearchPage, WebSession, fts5_query, search_words
from gallery_sync.model import (
    Application,
    Applications,
    Asset,
    DurationLimit,
    Status,
    Version,
    Visibility,
)
from gallery_sync.rules import Audience

if TYPE_CHECKING:
    from gallery_sync.gallery.service import AuditRecord, StoredWrite

# The account of the embedded gallery's own catalog: `apps add` runs without a config, so it
# cannot know a publisher; every publisher of an embedded gallery uses these applications.
EMBEDDED_ACCOUNT = ""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def refuse_malformed(problems: list[str]) -> None:
    if problems:
        raise GalleryRefusal([Diagnostic.of("schema", p) for p in problems])


def bump_catalog_version(db: Database) -> None:
    """A write transaction changed the catalog: every process's cached copy is now stale."""
    db.execute(
        "INSERT INTO meta VALUES ('catalog_version', '1') ON CONFLICT (key) DO UPDATE "
        "SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
    )


def remember(db: Database, key: str, account: str, response: str) -> None:
    """Keep a write's reply for its Idempotency-Key (the first one stays)."""
    db.execute(
        "INSERT INTO idempotency VALUES (?, ?, ?, ?) ON CONFLICT (key, account) DO NOTHING",
        (key, account, response, now()),
    )


class TxTables:
    """Inside a write transaction (its connection is `self.db`)."""

    db: Any

    def claim(self, key: str, account: str) -> str | None:
        """What is kept so far for this Idempotency-Key of this account, read inside the write
        transaction: SQLite's write lock (BEGIN IMMEDIATE) already serialises two requests
        with one key, so the second reads what the first committed."""
        rows = self.db.execute(
            "SELECT response FROM idempotency WHERE key = ? AND account = ?", (key, account)
        ).fetchall()
        return str(rows[0][0]) if rows else None

    def remember(self, key: str, account: str, response: str) -> None:
        """Keep, with this transaction's writes, the key's outcomes so far (claimed first)."""
        self.db.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?) ON CONFLICT (key, account) "
            "DO UPDATE SET response = excluded.response",
            (key, account, response, now()),
        )

    def subscriptions_of(self, asset_ids: Collection[str]) -> list[Subscription]:
        """The subscriptions to these assets (whose writes the transaction holds locked)."""
        found = []
        for asset in sorted(set(asset_ids)):
            rows = self.db.execute(_SUBSCRIPTION + " WHERE asset = ?", (asset,)).fetchall()
            found += [Subscription(a, c, s, e, bool(r)) for a, c, s, e, r in rows]
        return found

    def keep_subscription(self, held: Subscription) -> None:
        """Begin (or replace) a subscription, in this transaction."""
        self.db.execute(SAVE_SUBSCRIPTION, _subscription_row(held))


_TOKEN = "SELECT id, account, role, created_at, revoked_at FROM tokens"
_SUBSCRIPTION = "SELECT asset, account, started_at, ends_at, auto_renew FROM subscriptions"


class Damaged(ValueError):
    """A stored value that cannot be what its column holds; the message names it and says how."""


class CatalogReads:
    """The catalog as stored, read by a store or inside one of its transactions (the
    CatalogSource of gallery.service). `_rows` runs a read on `db`; `_damaged` is what a
    failed read (`READ_ERRORS`, the driver's) or a value that cannot be decoded raises;
    `JSON_ROWS` spells a JSON array parameter as rows."""

    db: Any
    READ_ERRORS: tuple[type[Exception], ...] = ()

    JSON_ROWS = "json_each(?)"  # SQLite; PostgreSQL: jsonb_array_elements(?::jsonb)
    # Keys per targeted query (one JSON parameter each): a write batch names up to thousands.
    KEYS_PER_QUERY = 5000
    # From this many keys, when they are at least half of the account's applications, one
    # plain list of them all is cheaper than the targeted queries (50,000 keys of 60,000
    # applications: 43 ms against 98 ms in SQLite).
    LIST_FROM_KEYS = 10_000
    # Rows fetched at a time by a read that streams them (`_each_row`).
    ROWS_PER_FETCH = 2000

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            rows: list[Any] = self.db.execute(sql, args).fetchall()
            return rows
        except self.READ_ERRORS as exc:
            raise self._damaged(exc) from exc

    def _each_row(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Any]:
        """`_rows`, fetched a few thousand at a time: for reads of a whole table."""
        try:
            cursor = self.db.execute(sql, args)
            while rows := cursor.fetchmany(self.ROWS_PER_FETCH):
                yield from rows
        except self.READ_ERRORS as exc:
            raise self._damaged(exc) from exc

    def _damaged(self, exc: Exception) -> Exception:
        raise NotImplementedError

    def catalog_version(self) -> str:
        """The catalog's version: each write that changes the catalog bumps it, in the same
        transaction (bump_catalog_version); '' before the first change."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'catalog_version'")
        return str(rows[0][0]) if rows else ""

    def categories(self) -> frozenset[str]:
        return frozenset(r[0] for r in self._rows("SELECT id FROM categories"))

    def agreements(self) -> frozenset[str]:
        return frozenset(r[0] for r in self._rows("SELECT id FROM agreements"))

    def allowed_registries(self) -> tuple[str, ...]:
        rows = self._rows("SELECT value FROM meta WHERE key = 'allowed_registries'")
        if not rows:
            return ()
        try:
            value = json.loads(rows[0][0])
        except (ValueError, TypeError) as exc:
            raise self._damaged(Damaged("meta.allowed_registries is not JSON")) from exc
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            shown = str(rows[0][0])[:40]
            raise self._damaged(
                Damaged(f"meta.allowed_registries is not a list of registry patterns: {shown!r}")
            )
        return tuple(value)

    def applications(
        self, keys: Collection[tuple[str, str]], account: str = EMBEDDED_ACCOUNT
    ) -> Mapping[tuple[str, str], Application]:
        """The account's applications among (region, name) `keys`: one query per
        KEYS_PER_QUERY keys. The whole list only when the keys are most of it: a catalog holds
        tens of thousands, and the write path asks once per batch (listing them all each time
        made a 100,000-asset apply read 200 x 600,000 rows)."""
        # Each found one kept by the asking key's own tuple (the config holds its strings
        # anyway), as its image alone: the rows' strings and tuples are let go at once.
        # 125,000 applications: 55 MiB at their peak as rows and Applications, here ~8 MiB.
        found: dict[tuple[str, str], str | None] = {}
        ordered = list(keys)
        if len(ordered) >= self.LIST_FROM_KEYS and self._count(account) <= 2 * len(ordered):
            wanted = {key: key for key in ordered}
            for row in self._each_row(
                "SELECT region, name, image FROM applications WHERE account = ?", (account,)
            ):
                key = wanted.get((row[0], row[1]))
                if key is not None:
                    found[key] = row[2]
            return Applications(found)
        # Pairs taken apart from JSON, not a query per region by plain names: PostgreSQL plans
        # `name IN (<rows of a function>)` against a table it has no statistics of yet (just
        # filled) as a scan of the region's rows for every key, 0.7 s a query against 0.01 s.
        for start in range(0, len(ordered), self.KEYS_PER_QUERY):
            chunk = ordered[start : start + self.KEYS_PER_QUERY]
            rows = self._rows(
                "SELECT region, name, image FROM applications WHERE account = ? AND "
                f"(region, name) IN (SELECT value ->> 0, value ->> 1 FROM {self.JSON_ROWS})",
                (account, json.dumps([list(k) for k in chunk])),
            )
            asked = {key: key for key in chunk}
            for r, n, i in rows:
                found[asked.get((r, n), (r, n))] = i
        return Applications(found)

    def _count(self, account: str) -> int:
        rows = self._rows("SELECT count(*) FROM applications WHERE account = ?", (account,))
        return int(rows[0][0])

    def list_applications(self, account: str = EMBEDDED_ACCOUNT) -> list[Application]:
        rows = self._rows(
            "SELECT name, region, image FROM applications WHERE account = ? ORDER BY region, name",
            (account,),
        )
        return [Application(*row) for row in rows]


class SqlTables(CatalogReads):
    """Mixed into a store: `transaction()` its write transaction (with `.db`), `_rows` a read,
    `assets(ids=)` its read of whole assets, `_audit_change` decodes an audit row's change."""

    def transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    @contextmanager
    def _write(self) -> Iterator[Database]:
        """A write transaction's connection."""
        with self.transaction() as tx:
            yield tx.db

    def assets(self, *, ids: Collection[str] | None = None) -> dict[str, Asset]:
        raise NotImplementedError

    def _audit_change(self, row: tuple[Any, ...]) -> dict[str, Any]:
        raise NotImplementedError

    def schema_version(self) -> int:
        return int(self._rows("SELECT MAX(version) FROM schema_migrations")[0][0])

    # --- Assets, audit, covers ---------------------------------------------------------------

    def state_digests(self, publisher: str) -> dict[str, tuple[str | None, int]]:
        """id -> (its kept state digest, its revision) of the publisher's assets; the digest
        None where none is kept, or where what is kept is not a digest."""
        return digests_from_rows(self._rows(STATE_DIGESTS, (publisher,)))

    def page_assets(self, after: str | None, limit: int) -> list[Asset]:
        """Up to `limit` assets in id order, after the id `after` (None: from the first)."""
        rows = self._rows(
            "SELECT id FROM assets WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit)
        )
        found = self.assets(ids=[r[0] for r in rows])
        return [found[r[0]] for r in rows if r[0] in found]

    def history(
        self,
        *,
        asset: str | None = None,
        publisher: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """The audit log, newest first: of one asset, and/or of one publisher's assets (and
        the entries it wrote itself); `after_id`: those after it in this order (older); at
        most `limit`."""
        where: list[str] = []
        args: list[object] = []
        if asset is not None:
            where.append("asset = ?")
            args.append(asset)
        if publisher is not None:
            where.append("(asset IN (SELECT id FROM assets WHERE publisher = ?) OR account = ?)")
            args += (publisher, publisher)
        if after_id is not None:
            where.append("id < ?")
            args.append(after_id)
        query = "SELECT id, time, account, asset, change, plan_hash, message FROM audit"
        query += (" WHERE " + " AND ".join(where)) if where else ""
        query += " ORDER BY id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        return [
            AuditEntry(r[0], r[1], r[2], r[3], self._audit_change(r), r[5], r[6])
            for r in self._rows(query, args)
        ]

    def cover(self, sha256: str) -> bytes | None:
        rows = self._rows("SELECT data FROM covers WHERE sha256 = ?", (sha256,))
        return bytes(rows[0][0]) if rows else None

    # --- Applications belong to an account -------------------------------------------------

    def add_application(self, app: Application, account: str = EMBEDDED_ACCOUNT) -> str:
        """Register an AI application of `account`; return "added", "updated" or "unchanged"."""
        refuse_malformed(shape.check_application(app.name, app.region, app.image))
        with self._write() as db:
            row = db.execute(
                "SELECT image FROM applications WHERE account = ? AND region = ? AND name = ?",
                (account, app.region, app.name),
            ).fetchone()
            if row is not None and row[0] == app.image:
                return "unchanged"
            db.execute(
                "INSERT INTO applications (account, region, name, image) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account, region, name) DO UPDATE SET image = excluded.image",
                (account, app.region, app.name, app.image),
            )
            bump_catalog_version(db)
        return "added" if row is None else "updated"

    # --- The operator's settings -----------------------------------------------------------

    def add_category(self, slug: str) -> bool:
        """Add a category to the taxonomy; False if it was there."""
        refuse_malformed(shape.check_category(slug))
        with self._write() as db:
            added = db.execute(
                "INSERT INTO categories VALUES (?) ON CONFLICT (id) DO NOTHING RETURNING id",
                (slug,),
            ).fetchone()
            bump_catalog_version(db)
        return added is not None

    def remove_category(self, slug: str) -> bool:
        """Take a category out of the taxonomy (assets keep it); False if it was not there."""
        return self._remove_from_catalog("categories", slug)

    def _remove_from_catalog(self, table: str, key: str) -> bool:
        with self._write() as db:
            sql = f"DELETE FROM {table} WHERE id = ? RETURNING id"  # table: ours, never input
            removed = db.execute(sql, (key,)).fetchone()
            bump_catalog_version(db)
        return removed is not None

    def agreement_titles(self) -> dict[str, str]:
        """Every agreement's id and title."""
        return dict(self._rows("SELECT id, title FROM agreements ORDER BY id"))

    def add_agreement(self, agreement_id: str, title: str) -> str:
        """Add an agreement (or give it a new title): "added", "updated" or "unchanged"."""
        refuse_malformed(shape.check_agreement(agreement_id, title))
        with self._write() as db:
            row = db.execute("SELECT title FROM agreements WHERE id = ?", (agreement_id,))
            before = row.fetchone()
            if before is not None and before[0] == title:
                return "unchanged"
            db.execute(
                "INSERT INTO agreements VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                "SET title = excluded.title",
                (agreement_id, title),
            )
            bump_catalog_version(db)
        return "added" if before is None else "updated"

    def remove_agreement(self, agreement_id: str) -> bool:
        """Take an agreement out (new publishes no longer need it); False if it was not there."""
        return self._remove_from_catalog("agreements", agreement_id)

    def set_allowed_registries(self, patterns: list[str]) -> None:
        """The registries container images may come from (fnmatch patterns, e.g. swr.*.com)."""
        if not patterns:
            refuse_malformed(["at least one registry pattern is needed"])
        refuse_malformed([p for pattern in patterns for p in shape.check_registry_pattern(pattern)])
        with self._write() as db:
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'allowed_registries'",
                (json.dumps(patterns),),
            )
            bump_catalog_version(db)

    # --- Tokens: only a hash is kept -------------------------------------------------------

    def create_token(self, account: str, role: str, token_hash: str) -> int:
        with self._write() as db:
            row = db.execute(
                "INSERT INTO tokens (account, role, token_hash, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (account, role, token_hash, now()),
            ).fetchone()
        return int(row[0])

    def token(self, token_hash: str) -> Token | None:
        rows = self._rows(_TOKEN + " WHERE token_hash = ?", (token_hash,))
        return Token(*rows[0]) if rows else None

    def list_tokens(self) -> list[Token]:
        return [Token(*row) for row in self._rows(_TOKEN + " ORDER BY id")]

    def revoke_token(self, token_id: int) -> bool:
        """False if there is no such token, or it was revoked before."""
        with self._write() as db:
            row = db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id",
                (now(), token_id),
            ).fetchone()
        return row is not None

    # --- Subscriptions ---------------------------------------------------------------------

    def subscribe(
        self, asset: str, account: str, start: str, end: str | None, auto_renew: bool
    ) -> None:
        """Begin (or replace) `account`'s term on `asset`; the rules decided it may."""
        with self._write() as db:
            db.execute(SAVE_SUBSCRIPTION, (asset, account, start, end, int(auto_renew)))

    def subscriptions(
        self, asset: str | None = None, account: str | None = None
    ) -> list[Subscription]:
        where, args = _where(("asset", asset), ("account", account))
        rows = self._rows(_SUBSCRIPTION + where + " ORDER BY asset, account", args)
        return [Subscription(a, c, s, e, bool(r)) for a, c, s, e, r in rows]

    # --- Idempotency -----------------------------------------------------------------------

    def idempotent(self, key: str, account: str) -> str | None:
        """The reply kept for this Idempotency-Key of this account, if any."""
        rows = self._rows(
            "SELECT response FROM idempotency WHERE key = ? AND account = ?", (key, account)
        )
        return str(rows[0][0]) if rows else None

    def remember(self, key: str, account: str, response: str) -> None:
        with self._write() as db:
            remember(db, key, account, response)

    # --- Searching released assets (the web gallery's Models page) -------------------------

    # How each database spells: a full-text match of the search words (`?`: the query as
    # `_text_query` spells it), an asset's categories as rows `c(value)`, and whether an
    # account (`?`) is in its specific_users. SQLite's here; PostgreSQL overrides them.
    TEXT_MATCH = "a.rowid IN (SELECT rowid FROM assets_fts WHERE assets_fts MATCH ?)"
    CATEGORY_ROWS = "json_each(a.categories) AS c"
    LISTED = (
        "EXISTS (SELECT 1 FROM json_each(a.visibility, '$.specific_users') u WHERE u.value = ?)"
    )

    def _text_query(self, words: list[str]) -> str:
        return fts5_query(words)

    def search_released(
        self,
        audience: Audience,
        *,
        text: str = "",
        categories: Collection[str] = (),
        offset: int = 0,
        limit: int = 24,
    ) -> SearchPage:
        """The released assets `audience` may see whose title or description holds every word
        of `text` (as a prefix) and that are in any of `categories`: the page at `offset`,
        newest first; how many match; per category, how many match but for `categories`."""
        where = ["a.status = 'released'"]
        args: list[object] = []
        if not audience.sees_all:
            seen = ["a.visibility = ?"]
            args.append(json.dumps(Visibility.from_json("public").to_json()))
            if audience.account is not None:
                seen += ["a.publisher = ?", self.LISTED]
                args += (audience.account, audience.account)
            where.append("(" + " OR ".join(seen) + ")")
        words = search_words(text)
        if words:
            where.append(self.TEXT_MATCH)
            args.append(self._text_query(words))
        facets = self._rows(
            f"SELECT c.value, COUNT(*) FROM assets a, {self.CATEGORY_ROWS} "
            f"WHERE {' AND '.join(where)} GROUP BY c.value",
            args,
        )
        chosen = sorted(set(categories))
        if chosen:
            marks = ", ".join("?" * len(chosen))
            where.append(f"EXISTS (SELECT 1 FROM {self.CATEGORY_ROWS} WHERE c.value IN ({marks}))")
            args += chosen
        rows = self._rows(
            f"SELECT a.id, COUNT(*) OVER () FROM assets a WHERE {' AND '.join(where)} "
            "ORDER BY a.created_at DESC, a.id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        if rows:
            total = int(rows[0][1])
        else:  # past the last page: the count alone
            total = int(
                self._rows(f"SELECT COUNT(*) FROM assets a WHERE {' AND '.join(where)}", args)[0][0]
            )
        found = self.assets(ids=[r[0] for r in rows])
        return SearchPage(
            [found[r[0]] for r in rows if r[0] in found],
            total,
            {str(name): int(count) for name, count in facets},
        )

    # --- Browsers' sessions (only hashes are kept) -----------------------------------------

    def create_session(self, session: WebSession) -> None:
        """Keep a new session; the expired ones go."""
        with self._write() as db:
            db.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now(),))
            db.execute(
                "INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?)",
                (
                    session.session_hash,
                    session.token_hash,
                    session.csrf,
                    session.created_at,
                    session.expires_at,
                ),
            )

    def web_session(self, session_hash: str) -> WebSession | None:
        """The session of this hash, unless it has expired."""
        rows = self._rows(
            "SELECT session_hash, token_hash, csrf, created_at, expires_at FROM web_sessions "
            "WHERE session_hash = ? AND expires_at > ?",
            (session_hash, now()),
        )
        return WebSession(*rows[0]) if rows else None

    def end_session(self, session_hash: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM web_sessions WHERE session_hash = ?", (session_hash,))


def _where(*conditions: tuple[str, object]) -> tuple[str, list[object]]:
    """` WHERE a = ? AND b = ?` for the conditions whose value is not None."""
    used = [(column, value) for column, value in conditions if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in used), [v for _, v in used]


# --- Writing and reading assets: the rows both stores keep ---------------------------------

# The columns a write sets, in the order of the rows `rows_of` makes.
ASSET_ROW = (
    "id, publisher, title, cover, description, categories, visibility, duration_limit, "
    "status, revision, created_at, updated_at"
)
VERSION_ROW = "asset_id, version, region, ai_application, description, status, created_at"
AUDIT_ROW = "time, account, asset, change, plan_hash, message"

SAVE_COVERS = "INSERT INTO covers VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING"
SAVE_ASSETS = f"""
INSERT INTO assets ({ASSET_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, cover = excluded.cover,
  description = excluded.description, categories = excluded.categories,
  visibility = excluded.visibility, duration_limit = excluded.duration_limit,
  status = excluded.status, revision = excluded.revision, updated_at = excluded.updated_at"""
SAVE_VERSIONS = f"""
INSERT INTO versions ({VERSION_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (asset_id, version) DO UPDATE SET description = excluded.description,
  status = excluded.status"""
# After the versions: an edit of a version clears its asset's digest (migration 4's triggers).
SAVE_DIGESTS = "UPDATE assets SET state_digest = ? WHERE id = ?"
SAVE_AUDIT = f"INSERT INTO audit ({AUDIT_ROW}) VALUES (?, ?, ?, ?, ?, ?)"
SAVE_SUBSCRIPTION = """
INSERT INTO subscriptions (asset, account, started_at, ends_at, auto_renew) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (asset, account) DO UPDATE SET started_at = excluded.started_at,
  ends_at = excluded.ends_at, auto_renew = excluded.auto_renew"""


def _subscription_row(held: Subscription) -> tuple[Any, ...]:
    return (held.asset, held.account, held.started_at, held.ends_at, int(held.auto_renew))


@dataclass(frozen=True, slots=True)
class Rows:
    """What a batch of writes adds, table by table, in the order they are written."""

    covers: list[tuple[str, bytes]]
    assets: list[tuple[Any, ...]]
    versions: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]]
    subscriptions: list[tuple[Any, ...]]  # running terms the writes settled
    digests: list[tuple[str, str]]  # (state digest, id) of each asset written
    # The assets the writes make (no row of theirs, nor of their versions, is stored yet): a
    # store may insert their rows outright instead of as upserts (PostgreSQL: COPY).
    created: frozenset[str] = frozenset()

    def statements(self) -> list[tuple[str, Sequence[tuple[Any, ...]]]]:
        return [
            (SAVE_COVERS, self.covers),
            (SAVE_ASSETS, self.assets),
            (SAVE_VERSIONS, self.versions),
            (SAVE_DIGESTS, self.digests),
            (SAVE_AUDIT, self.audit),
            (SAVE_SUBSCRIPTION, self.subscriptions),
        ]


def rows_of(writes: Sequence[StoredWrite], audit: Sequence[AuditRecord] = ()) -> Rows:
    """The rows of the writes (assets, versions, new covers, audit) and extra audit records."""
    stamp = now()
    # Visibility, duration limits and category sets repeat across assets: encode each once
    # (keyed by its encoder too: they are all tuples, and a tuple may equal another kind's).
    encoded: dict[object, str] = {}

    def encode(value: Any, canonical: Callable[[Any], Any]) -> str:
        key = (canonical, value)
        text = encoded.get(key)
        if text is None:
            text = encoded[key] = json.dumps(canonical(value))
        return text

    assets: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    covers: list[tuple[str, bytes]] = []
    records: list[AuditRecord] = []
    settled: list[tuple[Any, ...]] = []
    created: set[str] = set()
    digests: list[tuple[str, str]] = []
    for write in writes:
        a = write.asset
        digests.append((a.state_digest(), a.id))
        assets.append(
            (
                a.id,
                a.publisher,
                a.title,
                a.cover,
                a.description,
                encode(a.categories, sorted),
                encode(a.visibility, Visibility.to_json),
                encode(a.duration_limit, DurationLimit.to_json),
                a.status.value,
                write.revision,
                stamp,
                stamp,
            )
        )
        versions += [
            (a.id, v.version, v.region, v.ai_application, v.description, v.status.value, stamp)
            for v in a.versions
        ]
        covers += write.covers.items()
        records += write.audit
        settled += map(_subscription_row, write.subscriptions)
        if write.creates:
            created.add(a.id)
    # orjson: ~9x json.dumps on audit records, which carry whole assets for a create.
    dumps = orjson.dumps
    rows = [
        (stamp, r.account, r.asset, dumps(r.change).decode(), r.plan_hash, r.message)
        for r in (*records, *audit)
    ]
    return Rows(covers, assets, versions, rows, settled, digests, frozenset(created))


STATE_DIGESTS = "SELECT id, state_digest, revision FROM assets WHERE publisher = ?"


def digests_from_rows(rows: Iterable[Any]) -> dict[str, tuple[str | None, int]]:
    """id -> (digest, revision) of STATE_DIGESTS' rows: the digest None where the row's digest
    or revision is not what it must be (the asset is then read whole, and its damage said)."""
    return {
        asset_id: (digest if type(digest) is str and type(revision) is int else None, revision)
        for asset_id, digest, revision in rows
    }


ASSET_COLUMNS = (
    "id, publisher, title, cover, description, categories, visibility, duration_limit, "
    "status, revision"
)
VERSION_COLUMNS = "asset_id, version, region, ai_application, description, status"
_DECODERS = (tuple, Visibility.from_json, DurationLimit.from_json)


def _same(value: Any) -> Any:
    return value


def assets_from_rows(
    version_rows: Iterable[Any],
    asset_rows: Iterable[Any],
    *,
    text: Callable[[Any], Any] = _same,
    optional_text: Callable[[Any], Any] = _same,
    integer: Callable[[Any], Any] = _same,
    decoders: Sequence[Callable[[Any], Any]] = _DECODERS,
) -> dict[str, Asset]:
    """Assets from the rows of ASSET_COLUMNS and VERSION_COLUMNS, versions in version order;
    each stored JSON value decoded once per distinct text (they repeat across assets).

    `text`, `optional_text`, `integer` and `decoders` check what a column holds: a store whose
    columns cannot be trusted to (SQLite's are untyped) passes checks that name the damage.
    A check is asked only of a value not of its column's plain type (a str, None or a str,
    an int): the common case skips ~80,000 calls of a 10,000-asset read (~25% of it)."""
    versions: dict[str, list[Version]] = {}
    # One string of each version number and region, not one per row: 5.5 MiB of the state
    # of 10,000 assets (read while the config's assets and the plan are alive).
    shared: dict[str, str] = {}
    for asset_id, number, region, app, description, status in version_rows:
        if type(region) is not str or type(app) is not str or type(description) is not str:
            region, app, description = text(region), text(app), text(description)
        if type(number) is str:  # a damaged row's own value as it is, for the check to name
            number = shared.setdefault(number, number)
        region = shared.setdefault(region, region)
        version = Version(number, region, app, description, Status.of(status))
        found = versions.get(asset_id)
        if found is None:
            versions[asset_id] = [version]
        else:
            found.append(version)
    decoded: dict[tuple[int, str], Any] = {}

    def decode(kind: int, stored: str) -> Any:
        value = decoded.get((kind, stored))
        if value is None:
            value = decoded[(kind, stored)] = decoders[kind](json.loads(stored))
        return value

    out = {}
    order = Version.order
    for row in asset_rows:
        asset_id, publisher, title, cover, description, categories, visibility, limit = row[:8]
        mine = versions.get(asset_id, [])
        mine.sort(key=order)
        if type(publisher) is not str or type(title) is not str or type(description) is not str:
            publisher, title, description = text(publisher), text(title), text(description)
        revision = row[9]
        out[asset_id] = Asset(
            asset_id,
            publisher,
            title,
            tuple(mine),
            cover if cover is None or type(cover) is str else optional_text(cover),
            description,
            decode(0, categories),
            decode(1, visibility),
            decode(2, limit),
            Status.of(row[8]),
            revision if type(revision) is int else integer(revision),
        )
    return out
