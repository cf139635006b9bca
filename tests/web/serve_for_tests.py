"""The web gallery as the browser tests run it: a real uvicorn process on a free loopback port
over the store given, printing `serving on URL`.

Subscribing is GalleryService.subscribe (issue 12's accounts work); until the service has it,
a stand-in of the same contract (a term of the asset's duration limit from now, refused for
one's own or a discontinued asset) keeps the pages' form and its flow under test.
"""

from __future__ import annotations

import sys
import time

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import Status
from gallery_sync.web.app import create_app, serve


class StandInSubscribe(GalleryService):
    def subscribe(self, asset_id: str) -> None:
        account = self.principal.account
        asset = self.store.assets(ids=[asset_id]).get(asset_id)
        if account is None or asset is None or not self._may_see(asset):
            raise GalleryRefusal([Diagnostic.of("not-found", f"no asset {asset_id!r}")])
        if asset.publisher == account or asset.status is not Status.RELEASED:
            raise GalleryRefusal(
                [Diagnostic.of("not-found", "only a released asset of another publisher")]
            )
        start = time.time()
        days = asset.duration_limit.days
        end = (
            None
            if days is None
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + days * 86400))
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
        self.store.subscribe(asset_id, account, stamp, end, asset.duration_limit.auto_renew)


def main() -> None:
    service = GalleryService if hasattr(GalleryService, "subscribe") else StandInSubscribe
    serve(create_app(sys.argv[1], gallery=service), "127.0.0.1", 0)


if __name__ == "__main__":
    main()
