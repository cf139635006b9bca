"""plan, through the CLI, on a discontinue of an asset people subscribed to (SPEC section 7)."""

from __future__ import annotations

import time

from gallery_sync.gallery import Principal, open_store
from gallery_sync.gallery.service import GalleryService
from gallery_sync.rules import TIME_FORMAT, add_days
from helpers import FLOWERS, Workspace, config

RENEWING = "    duration_limit: {days: 30, auto_renew: true}\n"


def test_plan_says_how_many_subscribers_keep_access_and_until_when(ws: Workspace) -> None:
    ws.write("gallery.yaml", config(FLOWERS.format(visibility="public") + RENEWING))
    assert ws.run("apply", "--auto-approve").code == 0
    store = open_store(f"sqlite:///{ws.root / '.gallery' / 'gallery.db'}")
    ends = []
    try:
        for days_ago, account in ((3, "bob"), (10, "carol@example.com")):
            start = add_days(time.strftime(TIME_FORMAT, time.gmtime()), -days_ago)
            subscriber = GalleryService(store, Principal(account), clock=lambda s=start: s)
            ends.append(subscriber.subscribe("flowers").ends_at)
    finally:
        store.close()
    last = max(e for e in ends if e is not None)
    ws.write(
        "gallery.yaml",
        config(FLOWERS.format(visibility="public") + RENEWING + "    status: discontinued\n"),
    )
    text = ws.run("plan")
    assert text.code == 0, text.err
    assert (
        "- asset flowers will be discontinued (revision 1)\n"
        "    discontinue: 2 subscribers keep access until their terms end; the last term runs "
        f"until {last[:10]}\n"
    ) in text.out
    body = ws.run("plan", "--format", "json").json()
    assert body["assets"][0]["subscribers"] == {"count": 2, "last_end": last}
    markdown = ws.run("plan", "--format", "markdown").out
    assert "👥 discontinue: 2 subscribers keep access until their terms end; the last" in markdown
    # Saved, the effect is part of what the plan hash covers and what apply applies.
    assert ws.run("plan", "--out", "p.json").code == 0
    applied = ws.run("apply", "p.json", "--auto-approve")
    assert applied.code == 0, applied.err
