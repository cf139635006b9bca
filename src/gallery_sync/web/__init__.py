"""The gallery on the web (SPEC 8): pages rendered on the server, working without JavaScript.

`create_web(...)` returns a router that `serve` mounts beside the `/v1` API, given what the
API itself uses: the store of the request's thread, the authenticator (a token -> Principal)
and the gallery service for a principal. The pages only translate: who may see what is the
service's decision (`rules.may_see`), searching is the store's (full-text, in SQL).
"""

from __future__ import annotations

from gallery_sync.web.pages import create_web

__all__ = ["create_web"]
