"""GET /v1/assets/{id} answered on the event loop, from caches that a store generation keeps
exact: what the route would answer, without FastAPI, the worker thread or the store.

A store generation is a value that changes whenever anything commits to the store, from any
connection or process (the admin CLI revoking a token, another `serve` writing). Each request
reads it first; a generation other than the caches' empties them. So a token revoked, an asset
written or a subscription begun elsewhere is seen by the next request, exactly as without the
caches. Filled on a miss (in a worker thread, like any route), the caches hold: token hash ->
principal, and asset id -> the route's answer (or that there is no such asset). What a caller
may see is still `rules.may_see`, asked per request; a discontinued asset of another publisher
(whose answer depends on the caller's subscription and on the time) is left to the route, as is
anything else this path does not know how to answer (a HEAD, a bad header, a store failure).
"""

from __future__ import annotations

import gzip
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from gallery_sync import rules
from gallery_sync.gallery import Principal, Role
from gallery_sync.gallery.accounts import authenticate, token_hash
from gallery_sync.gallery.service import Store
from gallery_sync.model import Asset, Status
from gallery_sync.server.routes import asset_not_found, asset_response, bearer_token

log = logging.getLogger("gallery_sync.server")

PREFIX = "/v1/assets/"
# Entries kept at most; the oldest go first (a generation change empties both anyway).
MAX_ASSETS = 10_000
MAX_PRINCIPALS = 10_000
# What the app's GZipMiddleware does with a response (minimum_size, compresslevel): kept alike.
GZIP_MINIMUM = 1024
GZIP_LEVEL = 9

ANONYMOUS = Principal(None)

Scope = MutableMapping[str, Any]
Headers = list[tuple[bytes, bytes]]


class SqliteGeneration:
    """`PRAGMA data_version` on a connection of its own that never writes: SQLite changes it
    whenever another connection (this process's worker threads, another process) commits.
    Read on the event loop: in WAL mode it is a look at shared memory, no wait on a writer."""

    def __init__(self, path: str) -> None:
        # Only the event loop's thread uses it; check_same_thread=False lets a test's loop
        # run in a thread other than the one that made the app.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    async def __call__(self) -> object:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class PostgresGeneration:
    """The cluster's transaction snapshot (`pg_current_snapshot()`): the same text twice means
    no transaction that wrote anything committed in between (one that did either was running,
    and has left the list, or began after, and raised xmax). Cluster-wide, so writes to other
    databases empty the caches too: never stale, sometimes colder. One round trip per request,
    in a worker thread, on one connection of its own (requests take turns on it: a round trip
    is short, and `serve` keeps to one more connection than its worker threads hold)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self._lock = threading.Lock()

    def _read(self) -> object:
        import psycopg

        with self._lock:
            if self._conn is None:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            try:
                return self._conn.execute("SELECT pg_current_snapshot()::text").fetchone()
            except psycopg.Error:
                self._drop()  # the next request connects again; this one: the route's
                raise

    async def __call__(self) -> object:
        return await anyio.to_thread.run_sync(self._read)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


Generation = SqliteGeneration | PostgresGeneration


def generation_of(store: Store) -> Generation:
    if store.url.startswith("sqlite:///"):
        from gallery_sync.gallery.local import sqlite_path

        return SqliteGeneration(str(sqlite_path(store.url)))
    return PostgresGeneration(store.url)


@dataclass(slots=True)
class _Answer:
    """The route's answer for one asset a caller may see, and its gzip'd form once asked."""

    asset: Asset
    headers: Headers
    body: bytes
    gzipped: tuple[Headers, bytes] | None = None


class AssetCache:
    """Principals and answers of one store generation."""

    def __init__(self) -> None:
        self.generation: object = None
        self.principals: dict[str, Principal] = {}
        self.answers: dict[str, _Answer | None] = {}  # None: no such asset

    def renew(self, generation: object) -> None:
        if generation != self.generation:
            self.generation = generation
            self.principals = {}
            self.answers = {}

    def keep(
        self,
        generation: object,
        key: str | None,
        principal: Principal | None,
        asset_id: str,
        answer: _Answer | None,
        read: bool,
    ) -> None:
        """Keep what was read at `generation` (read after it was: at worst newer), unless the
        caches have moved on to another generation since."""
        if generation != self.generation:
            return
        if key is not None and principal is not None:
            _bounded(self.principals, MAX_PRINCIPALS)[key] = principal
        if read:
            _bounded(self.answers, MAX_ASSETS)[asset_id] = answer


def _bounded(cache: dict[str, Any], most: int) -> dict[str, Any]:
    while len(cache) >= most:
        del cache[next(iter(cache))]
    return cache


class FastGet:
    """Answers GET /v1/assets/{id} before the app's middleware and routing (`answer`), and
    counts what it answers in the app's metrics as Guard would; leaves the rest to them."""

    def __init__(
        self,
        *,
        stores: Callable[[], Store],
        generation: Generation,
        metrics: Any,
        template: str,
    ) -> None:
        self.stores = stores
        self.generation = generation
        self.metrics = metrics  # server.app.Metrics
        self.template = template  # the route's path template: the metrics' label
        self.cache = AssetCache()

    async def answer(self, scope: Scope, send: Any) -> bool:
        """Answer the request if it is a GET of one asset this path can answer; False: it sent
        nothing, and the app answers."""
        path: str = scope["path"]
        if (
            scope["method"] != "GET"
            or not path.startswith(PREFIX)
            or "/" in path[len(PREFIX) :]
            or len(path) == len(PREFIX)
        ):
            return False
        started = time.perf_counter()
        try:
            found = await self._response(scope["headers"], path[len(PREFIX) :])
        except Exception as exc:  # a fault of this path: logged, and the route answers
            log.error("GET fast path: %s: %s", type(exc).__name__, exc)
            return False
        if found is None:
            return False
        status, headers, body = found
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.count(self.template, "GET", status, time.perf_counter() - started)
        return True

    async def _response(
        self, request_headers: Headers, asset_id: str
    ) -> tuple[int, Headers, bytes] | None:
        """The answer from the caches (filled first if need be); None: the route's to give."""
        authorization = accept = None
        for name, value in request_headers:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"accept-encoding" and accept is None:
                accept = value.decode("latin-1")
            elif name in (b"content-length", b"transfer-encoding"):
                return None  # a body: Guard's limits, the route's answer
        try:
            token = bearer_token(authorization)
            generation = await self.generation()
        except Exception:  # a bad header's problem, a store that fails: the route's to answer
            return None
        cache = self.cache
        cache.renew(generation)
        key = token_hash(token) if token is not None else None
        kept = cache.principals.get(key) if key is not None else ANONYMOUS
        known = asset_id in cache.answers
        answer = cache.answers.get(asset_id)
        if kept is not None and known:
            principal = kept
        else:
            try:
                principal, read = await anyio.to_thread.run_sync(
                    self._read, token, asset_id, kept, known
                )
            except Exception:  # an unknown token's 401, a store failure's 503: the route's
                return None
            if not known:
                answer = read
            cache.keep(generation, key, principal, asset_id, answer, not known)
        visible = _visible(principal, answer.asset if answer is not None else None)
        if visible is None:
            return None
        if not visible or answer is None:
            response = asset_not_found(asset_id).response()
            return 404, response.raw_headers, bytes(response.body)
        if accept is not None and "gzip" in accept:
            return 200, *_gzipped(answer)
        return 200, answer.headers, answer.body

    def _read(
        self, token: str | None, asset_id: str, principal: Principal | None, known: bool
    ) -> tuple[Principal, _Answer | None]:
        """In a worker thread, on its own store: what the caches lack."""
        store = self.stores()
        if principal is None:
            principal = authenticate(store, token)  # Unauthenticated: the route's 401
        answer = None
        if not known:
            found = store.assets(ids=[asset_id]).get(asset_id)
            answer = _answer_of(found) if found is not None else None
        return principal, answer


def _visible(principal: Principal, asset: Asset | None) -> bool | None:
    """Whether the caller may see the asset, as `GalleryService` decides; None where a
    subscription term decides (a discontinued asset of another publisher): the route's."""
    if asset is None:
        return False
    if principal.role is Role.ADMIN or principal.account == asset.publisher:
        return True
    if asset.status is Status.DISCONTINUED:
        return None
    return rules.may_see(asset, principal.account, rules.NOT_SUBSCRIBED, "")


def _answer_of(asset: Asset) -> _Answer:
    response = asset_response(asset)
    headers = list(response.raw_headers)
    if len(response.body) >= GZIP_MINIMUM:
        headers.append((b"vary", b"Accept-Encoding"))
    return _Answer(asset, headers, bytes(response.body))


def _gzipped(answer: _Answer) -> tuple[Headers, bytes]:
    """As GZipMiddleware answers a client that accepts gzip: a body that is worth it
    compressed (once per answer), a small one as it is."""
    if len(answer.body) < GZIP_MINIMUM:
        return answer.headers, answer.body
    if answer.gzipped is None:
        body = gzip.compress(answer.body, GZIP_LEVEL)
        length = (b"content-length", str(len(body)).encode())
        headers = [length if k == b"content-length" else (k, v) for k, v in answer.headers]
        headers.append((b"content-encoding", b"gzip"))
        answer.gzipped = (headers, body)
    return answer.gzipped
