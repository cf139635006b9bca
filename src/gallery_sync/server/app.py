"""The served gallery's ASGI app: `create_app(store_url)`, and `run` for `gallery-sync serve`."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Histogram

from gallery_sync import __version__
from gallery_sync.errors import GalleryUnavailable
from gallery_sync.gallery import open_store, shown_url
from gallery_sync.gallery.service import Store
from gallery_sync.server import fastpath, problems

# Request bodies: the batch write route carries covers (5 MiB each) and up to 500 writes;
# plan's state query the ids and state digests of a config's assets (up to 100,000 of each).
WRITES_LIMIT = 64 * 1024 * 1024
STATE_LIMIT = 32 * 1024 * 1024
BODY_LIMIT = 1024 * 1024
WRITES_PATH = "/v1/writes"
STATE_PATH = "/v1/state"
MAX_LABEL_SETS = 1000

log = logging.getLogger("gallery_sync.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Stores:
    """One store connection per worker thread (SQLite's may not cross threads; PostgreSQL's
    would serialise the threads sharing it). The first one migrates the schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()
        self._keep(open_store(url, create=True))  # creates and migrates; refuses a newer one
        # FastAPI resolves a dependency and runs its endpoint on different worker threads:
        # routes reach the store through server.service.ThreadStore, per use.

    def _keep(self, store: Store) -> Store:
        self._local.store = store
        with self._lock:
            self._all.append(store)
        return store

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        return store if store is not None else self._keep(open_store(self.url))

    def close(self) -> None:
        with self._lock:
            stores, self._all = self._all, []
        for store in stores:
            with contextlib.suppress(Exception):  # on the way out: nothing left to tell
                store.close()


class Metrics:
    """Prometheus metrics of one app: requests by route and status, latency, writes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gallery_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gallery_request_seconds",
            "Time to answer a request, by route template",
            ["route"],
            registry=self.registry,
        )
        self.writes = Counter(
            "gallery_writes",
            "Asset writes, by outcome (applied, refused)",
            ["outcome"],
            registry=self.registry,
        )
        # Each label set's children, looked up once: `labels()` costs more than the count.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def count(self, route: str, method: str, status: int, seconds: float) -> None:
        """One request answered: by route template, method and status, and its latency."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self.requests.labels(route, method, str(status)), self.latency.labels(route)
            if len(self._children) < MAX_LABEL_SETS:  # methods and paths come from clients
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class _TooLarge(Exception):
    pass


class Guard:
    """Outermost middleware: the body limit (413 before the whole body is read), metrics, and
    a problem (never a traceback) for any failure nothing else answered."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        limit = (
            WRITES_LIMIT
            if path == WRITES_PATH
            else STATE_LIMIT
            if path == STATE_PATH
            else BODY_LIMIT
        )
        status = 500
        sent = False
        too_large = False
        received = 0

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                too_large = True
                raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal status, sent
            if too_large:
                return  # the app's answer to a cut-off body is replaced by the 413
            if message["type"] == "http.response.start":
                status = message["status"]
                sent = True
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                too_large = True
            else:
                await self.app(scope, counted, guarded_send)
        except _TooLarge:
            pass
        except Exception as exc:
            log.error(
                "internal error on %s %s: %s: %s",
                scope["method"],
                scope["path"],
                type(exc).__name__,
                exc,
            )
            if not sent:
                status = 500
                await _send(send, problems.Problem(500, "gallery-error", _INTERNAL))
        if too_large and not sent:
            status = 413
            detail = f"the request body is larger than {limit // (1024 * 1024)} MiB"
            await _send(send, problems.Problem(413, "request-invalid", detail))
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        self.metrics.count(template, scope["method"], status, time.perf_counter() - started)


_INTERNAL = "the gallery failed to answer; see its log"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send(send: Send, problem: problems.Problem) -> None:
    response = problem.response()
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})


class ServedApp(FastAPI):
    """The FastAPI app, with GET /v1/assets/{id} answered first by `fast` when it can: before
    the middleware and routing it would not need (server.fastpath)."""

    fast: fastpath.FastGet | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast is None or scope["type"] != "http" or not await self.fast.answer(scope, send):
            await super().__call__(scope, receive, send)


def create_app(store_url: str) -> ServedApp:
    """The app over the store at `store_url`, created and migrated now (GalleryUnavailable if
    it cannot be reached or is of a newer format)."""
    from gallery_sync.server import routes

    stores = Stores(store_url)
    metrics = Metrics()

    generation = fastpath.generation_of(stores.get())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        generation.close()
        stores.close()

    app = ServedApp(
        lifespan=lifespan,
        title="gallery-sync",
        version=__version__,
        description="The served gallery. Errors are RFC 9457 problem JSON "
        "with a `code` of the gallery's diagnostic codes.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.stores = stores
    app.state.metrics = metrics
    problems.install(app)
    app.include_router(routes.router)
    # The web gallery (SPEC section 8): pages over the same service, the same authenticator.
    from gallery_sync.gallery.accounts import Unauthenticated, authenticate
    from gallery_sync.server.service import ServedGallery
    from gallery_sync.web import create_web

    app.include_router(
        create_web(
            store=stores.get,
            authenticate=authenticate,
            refused=(Unauthenticated,),
            gallery=ServedGallery,
        )
    )
    app.add_middleware(
        GZipMiddleware, minimum_size=fastpath.GZIP_MINIMUM, compresslevel=fastpath.GZIP_LEVEL
    )
    app.add_middleware(Guard, metrics=metrics)
    # GET /v1/assets/{id} from caches kept exact by the store's generation (server.fastpath).
    [template] = [
        r.path
        for r in routes.router.routes
        if isinstance(r, APIRoute) and r.endpoint is routes.get_asset
    ]
    app.fast = fastpath.FastGet(
        stores=stores.get, generation=generation, metrics=metrics, template=template
    )

    return app


def run(store_url: str, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT. The store is migrated before the port is opened, and a
    port that cannot be had is one line, not a log of a failed start."""
    import uvicorn

    app = create_app(store_url)
    try:
        sock = socket.create_server((host, port), family=_family(host))
    except OSError as exc:
        app.state.stores.close()
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise GalleryUnavailable(f"cannot listen on {host}:{port}: {why}") from exc
    # Connections accepted on it inherit TCP_NODELAY. asyncio sets it only on sockets whose
    # proto is IPPROTO_TCP, which create_server's is not (0): without it, a keep-alive
    # response's body waits for the ACK of its headers, which the client delays ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # No access log: a request line is harmless, but nothing that sees requests may be able
    # to log a header, and the token travels in one.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    bound = sock.getsockname()
    print(
        f"gallery-sync {__version__} serving {shown_url(store_url)} on "
        f"http://{bound[0]}:{bound[1]}",
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.state.stores.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
