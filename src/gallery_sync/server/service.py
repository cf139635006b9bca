"""The reads only the API needs (one asset, a page of assets), on top of the gallery service:
visibility is still the service's decision (`_may_see`, i.e. `rules.may_see`)."""

from __future__ import annotations

from gallery_sync.gallery.service import GalleryService
from gallery_sync.model import Asset


class ServedGallery(GalleryService):
    def asset(self, asset_id: str) -> Asset | None:
        """The asset, if it exists and the caller may see it (None either way otherwise)."""
        found = self.store.assets(ids=[asset_id]).get(asset_id)
        return found if found is not None and self._may_see(found) else None

    def page(self, after: str | None, limit: int) -> tuple[list[Asset], str | None]:
        """Up to `limit` visible assets after the id `after`, in id order, and the cursor of the
        next page (None at the end). Pages of the store are read until `limit` are found."""
        out: list[Asset] = []
        cursor = after
        while len(out) < limit:
            chunk = self.store.page_assets(cursor, max(limit, 100))
            for found in chunk:
                cursor = found.id
                if self._may_see(found):
                    out.append(found)
                    if len(out) == limit:
                        break
            else:
                if len(chunk) < max(limit, 100):
                    return out, None
        return out, cursor
