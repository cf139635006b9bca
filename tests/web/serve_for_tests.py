"""The web gallery as the browser tests run it: a real uvicorn process on a free loopback port
over the store given, printing `serving on URL`."""

from __future__ import annotations

import sys

from gallery_sync.web.app import create_app, serve

if __name__ == "__main__":
    serve(create_app(sys.argv[1]), "127.0.0.1", 0)
