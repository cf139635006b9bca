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
        next page (None when no visible asset follows). Pages of the store are read until one
        more than `limit` is found, so that a full last page has no empty page after it."""
        out: list[Asset] = []
        cursor = after
        size = max(limit + 1, 100)
        while len(out) <= limit:
            chunk = self.store.page_assets(cursor, size)
            out += [a for a in chunk if self._may_see(a)]
            if len(chunk) < size:
                break
            cursor = chunk[-1].id
        if len(out) > limit:
            return out[:limit], out[limit - 1].id
        return out, None
