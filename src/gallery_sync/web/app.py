"""A minimal app serving only the web gallery, over one store, with its server time in a
header: what the browser tests and the web benchmark start (`serve` mounts the same pages).

    python -m gallery_sync.web.app STORE_URL [--host 127.0.0.1] [--port 0]

prints `serving on http://HOST:PORT` once it listens.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from gallery_sync.errors import GallerySyncError
from gallery_sync.gallery import Principal
from gallery_sync.gallery.accounts import Unauthenticated, authenticate
from gallery_sync.gallery.service import GalleryService, Store
from gallery_sync.server.app import Stores as ThreadStores
from gallery_sync.web import create_web


class ServerTiming:
    """Adds `Server-Timing: app;dur=MS` (request received to response started): what the
    benchmark reads as the server's time, free of the client's and the network's."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={took:.3f}".encode()),
                ]
            await send(message)

        await self.app(scope, receive, timed)


def create_app(
    store_url: str,
    *,
    gallery: Callable[[Store, Principal], GalleryService] = GalleryService,
) -> FastAPI:
    stores = ThreadStores(store_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        stores.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(
        create_web(
            store=stores.get, authenticate=authenticate, refused=(Unauthenticated,), gallery=gallery
        )
    )
    app.add_middleware(ServerTiming)
    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    import uvicorn

    sock = socket.create_server((host, port))
    bound = sock.getsockname()
    print(f"serving on http://{bound[0]}:{bound[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gallery_sync.web.app")
    parser.add_argument("store")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        app = create_app(args.store)
    except GallerySyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    serve(app, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
