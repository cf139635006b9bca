"""Each page in Chromium as an anonymous visitor, a consumer, a subscriber and a publisher:
what each sees and does not, search, filters, pages, subscribing, signing in and out, CSRF
refusals, headers, accessibility (axe-core) and screenshots at desktop and phone widths."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from browser import AXE
from gallery_sync.gallery.local import SqliteStore
from gallery_sync.gallery.service import AuditRecord
from gallery_sync.model import (
    Asset,
    DurationLimit,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)
from web_gallery import add_token, keep, keep_cover, serving

PUBLIC = Visibility(VisibilityLevel.PUBLIC)
V = (
    Version("1.0.0", "cn-north-4", "tulip-app", "first", Status.DISCONTINUED),
    Version("1.1.0", "cn-east-3", "tulip-app-v2", "faster"),
)
TULIPS_MD = """Finds **tulips** in photographs of fields.

## Accuracy

| Data set | Top-1 |
|----------|------:|
| Tulips-10k | 97.1 % |

- works on phone photos
- see [the paper](https://example.org/tulips)
"""
TOKENS: dict[str, str] = {}


def png(width: int = 64, height: int = 64, rgb: tuple[int, int, int] = (200, 60, 110)) -> bytes:
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("web") / "gallery.db"
    url = f"sqlite:///{path}"
    store = SqliteStore.open(url, create=True)
    cover = keep_cover(store, png())
    one = (Version("1.0.0", "cn-north-4", "app"),)
    kinds = ("computer-vision", "ocr", "speech")
    assets = [
        Asset(
            "tulips",
            "acme",
            "Tulip finder",
            V,
            cover=cover,
            description=TULIPS_MD,
            categories=("computer-vision", "image-classification"),
            visibility=PUBLIC,
            duration_limit=DurationLimit(30, True),
            revision=3,
        ),
        Asset("secret", "acme", "Secret sunflowers", one, description="Not for you"),
        Asset(
            "shared",
            "acme",
            "Shared roses",
            one,
            categories=("ocr",),
            visibility=Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"bob"})),
        ),
        Asset(
            "retired", "acme", "Retired daisies", one, visibility=PUBLIC, status=Status.DISCONTINUED
        ),
        Asset(
            "invoices",
            "zed",
            "Invoice reader",
            one,
            description="Reads *invoices*.",
            categories=("ocr",),
            visibility=PUBLIC,
        ),
        *[
            Asset(
                f"model-{i:02}",
                "acme",
                f"Model {i:02}",
                one,
                description=f"Generated model number {i} for paging.",
                categories=(kinds[i % 3],),
                visibility=PUBLIC,
            )
            for i in range(30)
        ],
    ]
    audit = [
        AuditRecord(
            "acme", "tulips", {"kind": "create"}, "0123456789abcdef", "commit 1a2b3c4: add tulips"
        ),
        AuditRecord(
            "acme", "shared", {"kind": "create"}, "fedcba9876543210", "commit 5d6e7f8: share roses"
        ),
        AuditRecord(
            "reconciler", "shared", {"kind": "drift", "fields": ["title"]}, "", "drift found"
        ),
        AuditRecord("reconciler", "tulips", {"kind": "in-step"}, "", "in step"),
    ]
    keep(store, assets, audit)
    for account in ("acme", "bob", "carol"):
        TOKENS[account] = add_token(store, account)
    store.subscribe("tulips", "carol", "2025-01-01T00:00:00Z", "2031-05-01T00:00:00Z", True)
    store.close()
    with serving(url) as base:
        yield base


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    context = browser.new_context(base_url=site, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, account: str) -> None:
    page.goto("/signin")
    page.get_by_label("Your gallery token").fill(TOKENS[account])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/models")
    assert page.locator(".account").inner_text().startswith(f"Signed in as {account}")


def titles(page: Any) -> list[str]:
    # all_inner_texts() does not wait: after a click that navigates, the new page must have
    # loaded first (without JavaScript, a form's submit commits later than a link's).
    page.wait_for_load_state("load")
    page.locator("main h1").wait_for()
    return page.locator(".cards h3").all_inner_texts()


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# --- Anonymous ---------------------------------------------------------------------------------


def test_the_root_leads_to_models_with_the_public_released_assets_newest_first(page: Any) -> None:
    response = page.goto("/")
    assert page.url.endswith("/models") and response.status == 200
    assert page.locator("h2#found").inner_text() == "32 models, page 1 of 2"
    shown = titles(page)
    assert shown[:3] == ["Tulip finder", "Invoice reader", "Model 00"]
    assert len(shown) == 24
    for hidden in ("Secret sunflowers", "Shared roses", "Retired daisies"):
        assert hidden not in page.content()


def test_pages_follow_one_another_and_keep_the_search(page: Any) -> None:
    page.goto("/models?category=computer-vision&category=speech")
    assert page.locator("h2#found").inner_text() == "21 models"
    page.goto("/models")
    page.get_by_role("link", name="Next page").click()
    assert "page=2" in page.url
    assert page.locator("h2#found").inner_text() == "32 models, page 2 of 2"
    assert titles(page) == [f"Model {i:02}" for i in range(22, 30)]
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="Previous page").click()
    assert titles(page)[0] == "Tulip finder"


def test_search_by_words_of_title_and_description(page: Any) -> None:
    page.goto("/models")
    page.get_by_label("Search title and description").fill("photographs tul")
    page.get_by_role("button", name="Search").click()
    assert titles(page) == ["Tulip finder"]
    assert page.get_by_label("Search title and description").input_value() == "photographs tul"
    page.goto("/models?q=invoices")
    assert titles(page) == ["Invoice reader"]
    page.goto("/models?q=%22%29%2A+OR+NOT")
    assert page.locator("h2#found").inner_text() == "0 models"


def test_several_categories_filter_with_their_counts(page: Any) -> None:
    page.goto("/models")
    assert page.locator("label[for=cat-ocr]").inner_text() == "ocr (11)"
    assert (
        page.locator("label[for=cat-image-classification]").inner_text()
        == "image-classification (1)"
    )
    page.get_by_label("ocr (11)").check()
    page.get_by_label("image-classification (1)").check()
    page.get_by_role("button", name="Apply filters").click()
    assert "category=image-classification&category=ocr" in page.url
    assert titles(page)[:2] == ["Tulip finder", "Invoice reader"]
    assert page.locator("h2#found").inner_text() == "12 models"
    assert page.get_by_label("ocr (11)").is_checked()
    page.get_by_label("Search title and description").fill("tulip")
    page.get_by_role("button", name="Search").click()
    assert titles(page) == ["Tulip finder"]


def test_an_asset_page_shows_cover_description_versions_and_restrictions(page: Any) -> None:
    page.goto("/models/tulips")
    assert page.locator("h1").inner_text() == "Tulip finder"
    cover = page.get_by_role("img", name="Cover of Tulip finder")
    assert cover.evaluate("img => img.naturalWidth") == 64
    assert page.locator(".head .tags").inner_text().split() == [
        "computer-vision",
        "image-classification",
    ]
    description = page.locator(".description")
    assert description.locator("h3").inner_text() == "Accuracy"  # one level below the page's
    assert description.locator("td").all_inner_texts() == ["Tulips-10k", "97.1 %"]
    assert (
        description.get_by_role("link", name="the paper").get_attribute("rel")
        == "noopener noreferrer nofollow"
    )
    rows = page.locator("section[aria-labelledby=versions] tbody tr").all_inner_texts()
    assert [r.split("\t") for r in rows] == [
        ["1.1.0", "released", "cn-east-3", "tulip-app-v2", "faster"],
        ["1.0.0", "discontinued", "cn-north-4", "tulip-app", "first"],
    ]
    facts = page.locator(".facts").inner_text().split("\n")
    assert facts == [
        "Visible to",
        "Everyone",
        "Duration limit",
        "30 days",
        "Renewal",
        "Renews automatically",
    ]
    assert (
        page.get_by_role("link", name="Sign in").nth(1).get_attribute("href")
        == "/signin?next=/models/tulips"
    )
    assert page.get_by_role("button", name="Subscribe").count() == 0


def test_what_the_visitor_may_not_see_is_the_same_404_as_what_is_missing(page: Any) -> None:
    seen = []
    for path in (
        "/models/secret",
        "/models/shared",
        "/models/retired",
        "/models/nothing-here",
        "/models/BAD%20id",
    ):
        response = page.goto(path)
        assert response.status == 404, path
        seen.append(page.locator("main").inner_text())
    assert len(set(seen)) == 1
    assert seen[0].startswith("Not found\n\nThere is no such model, or it is not shown to you")


def test_my_assets_needs_signing_in(page: Any) -> None:
    page.goto("/my/assets")
    assert page.url.endswith("/signin?next=/my/assets")
    assert page.get_by_role("link", name="My assets").count() == 0


# --- Consumer, subscriber, publisher ---------------------------------------------------------


def test_a_consumer_signs_in_sees_what_is_shared_with_it_and_subscribes(page: Any) -> None:
    sign_in(page, "bob")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["gs_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert TOKENS["bob"] not in session["value"]
    assert page.locator("h2#found").inner_text() == "33 models, page 1 of 2"
    page.goto("/models?q=roses")
    assert titles(page) == ["Shared roses"]
    page.goto("/models/shared")
    assert page.locator(".facts dd").first.inner_text() == "Its publisher and the accounts it names"
    assert page.goto("/models/secret").status == 404
    page.goto("/models/tulips")
    assert TOKENS["bob"] not in page.content()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/models/tulips")
    term = page.locator(".term").inner_text()
    assert term.startswith("You are subscribed. Your term ends on ")
    assert term.endswith(" and renews automatically.")
    assert page.get_by_role("button", name="Subscribe").count() == 0


def test_a_subscriber_sees_the_end_of_its_term(page: Any) -> None:
    sign_in(page, "carol")
    page.goto("/models/tulips")
    assert page.locator(".term").inner_text() == (
        "You are subscribed. Your term ends on 1 May 2031 and renews automatically."
    )
    assert page.locator(".term time").get_attribute("datetime") == "2031-05-01T00:00:00Z"


def test_a_publisher_sees_every_own_asset_with_its_last_change_and_drift(page: Any) -> None:
    sign_in(page, "acme")
    page.get_by_role("link", name="My assets").click()
    rows = page.locator("table.mine tbody tr")
    assert rows.count() == 34  # every own asset, hidden and discontinued ones too
    by_id = {r.locator(".id").first.inner_text(): r for r in rows.all()}
    assert set(by_id) >= {"secret", "shared", "retired", "tulips"}
    tulips = by_id["tulips"].locator("td").all_inner_texts()
    assert tulips[:3] == ["released", "public", "3"]
    assert "create" in tulips[3]
    assert tulips[4] == "commit 1a2b3c4: add tulips\nplan 0123456789ab"
    assert tulips[5].startswith("in step (")
    assert by_id["shared"].locator("td").nth(5).inner_text().startswith("drift: title (")
    assert by_id["shared"].locator("td").nth(1).inner_text() == "specific_users [bob]"
    assert by_id["secret"].locator("td").nth(5).inner_text() == "unknown"
    assert by_id["retired"].locator("td").first.inner_text() == "discontinued"
    page.goto("/models/secret")
    assert page.locator(".subscription p").first.inner_text() == "You publish this model."
    page.goto("/models/shared")
    assert page.locator(".facts dd").first.inner_text() == "Its publisher and bob"


def test_signing_out_ends_the_session_on_the_server(page: Any) -> None:
    sign_in(page, "bob")
    old = next(c for c in page.context.cookies() if c["name"] == "gs_session")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/models")
    assert page.get_by_role("link", name="Sign in").count() == 1
    assert page.locator("h2#found").inner_text() == "32 models, page 1 of 2"
    # The old cookie, replayed, is no session any more.
    page.context.add_cookies([{**old}])
    page.goto("/my/assets")
    assert page.url.endswith("/signin?next=/my/assets")


def test_a_wrong_token_is_refused_without_showing_it(page: Any) -> None:
    page.goto("/signin")
    page.get_by_label("Your gallery token").fill("gs_not-a-real-token-xyz")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == (
        "That token is unknown or revoked. Ask the gallery's operator for one."
    )
    assert "gs_not-a-real-token-xyz" not in page.content() and "token" not in page.url
    assert page.get_by_label("Your gallery token").input_value() == ""


def test_forms_without_their_csrf_token_are_refused(page: Any, site: str) -> None:
    page.goto("/signin")
    refused = page.request.post("/signin", form={"token": TOKENS["bob"], "csrf": "forged"})
    assert refused.status == 403
    assert "The form was refused" in refused.text()
    assert "gs_session" not in {c["name"] for c in page.context.cookies()}
    sign_in(page, "bob")
    for path in ("/signout", "/models/invoices/subscribe"):
        assert page.request.post(path, form={}).status == 403
        assert page.request.post(path, form={"csrf": "x" * 43}).status == 403
    page.goto("/models/invoices")
    assert page.get_by_role("button", name="Subscribe").count() == 1  # not subscribed
    assert page.locator(".account").inner_text().startswith("Signed in as bob")  # not signed out


def test_the_pages_work_without_javascript(browser: Any, site: str) -> None:
    context = browser.new_context(base_url=site, java_script_enabled=False)
    page = context.new_page()
    page.goto("/models")
    page.get_by_label("Search title and description").fill("invoice")
    with page.expect_navigation():  # no script: the form's own submit, a page load
        page.get_by_role("button", name="Search").click()
    assert titles(page) == ["Invoice reader"]
    sign_in(page, "acme")
    page.get_by_role("link", name="My assets").click()
    assert page.locator("h1").inner_text() == "My assets"
    context.close()


def test_every_page_carries_the_security_headers(page: Any) -> None:
    for path in ("/models", "/models/tulips", "/signin", "/models/secret", "/static/gallery.css"):
        headers = page.request.get(path).headers
        assert headers["content-security-policy"].startswith(
            "default-src 'self'; script-src 'none'"
        )
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_covers_are_served_by_sha256_with_caching_headers(page: Any) -> None:
    page.goto("/models/tulips")
    src = page.get_by_role("img", name="Cover of Tulip finder").get_attribute("src")
    sha = src.rsplit("/", 1)[1]
    first = page.request.get(src)
    assert first.status == 200 and first.headers["content-type"] == "image/png"
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert first.headers["etag"] == f'"{sha}"'
    again = page.request.get(src, headers={"If-None-Match": f'"{sha}"'})
    assert again.status == 304
    assert page.request.get("/covers/" + "0" * 64).status == 404


PAGES = {
    "models": "/models",
    "search": "/models?q=model&category=ocr&category=speech",
    "asset": "/models/tulips",
    "signin": "/signin",
    "not-found": "/models/secret",
}
SIGNED_IN_PAGES = {
    "my-assets": "/my/assets",
    "asset-subscriber": "/models/tulips",
    "models": "/models",
}


@pytest.mark.parametrize("persona", ["anonymous", "bob", "carol", "acme"])
def test_no_serious_accessibility_violation_and_screenshots(
    page: Any, persona: str, screenshot: Any
) -> None:
    pages = dict(PAGES)
    if persona != "anonymous":
        sign_in(page, persona)
        pages.update(SIGNED_IN_PAGES)
    for name, path in pages.items():
        page.goto(path)
        assert axe_violations(page) == [], (persona, path)
        screenshot(page, f"{persona}-{name}")
