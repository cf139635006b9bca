"""The web gallery's routes: each reads the visitor, asks the gallery service or the store's
search, and renders one template. Every response carries the security headers."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from gallery_sync import rules
from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import Principal, Role
from gallery_sync.gallery.service import GalleryService, Store
from gallery_sync.model import Asset, Status, VisibilityLevel
from gallery_sync.rules import Audience
from gallery_sync.web import session as sessions
from gallery_sync.web.markdown import RenderedCache
from gallery_sync.web.session import Visitor

PAGE_SIZE = 24
MAX_QUERY = 200
MAX_FORM = 16 * 1024
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
HTML = "text/html; charset=utf-8"

# No script at all: the pages work without it, and an injected one must not run either.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
COVER_CACHE = "public, max-age=31536000, immutable"
PRIVATE_COVER_CACHE = "private, max-age=31536000, immutable"

# What the reconciler (SPEC 9) writes to the audit log about an asset: the gallery differs
# from git ("drift", with the fields that differ), or is in step again ("in-step").
DRIFT_KINDS = ("drift", "in-step")

Authenticate = Callable[[Store, str], Principal]
GalleryFor = Callable[[Store, Principal], GalleryService]


def _static(name: str, media_type: str) -> tuple[bytes, str, str]:
    data = resources.files("gallery_sync.web").joinpath(f"static/{name}").read_bytes()
    return data, media_type, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


# The app's own files: its one stylesheet and its icon (no CDN, nothing from elsewhere).
STATIC = {
    "gallery.css": _static("gallery.css", "text/css"),
    "favicon.svg": _static("favicon.svg", "image/svg+xml"),
}


@dataclass(frozen=True, slots=True)
class Web:
    """What the pages are given: the store of the calling thread, the authenticator and its
    refusal exceptions, the gallery service for a principal."""

    store: Callable[[], Store]
    authenticate: Authenticate
    refused: tuple[type[Exception], ...]
    gallery: GalleryFor
    templates: Environment
    rendered: RenderedCache
    page_size: int


def create_web(
    *,
    store: Callable[[], Store],
    authenticate: Authenticate,
    refused: tuple[type[Exception], ...],
    gallery: GalleryFor = GalleryService,
    page_size: int = PAGE_SIZE,
) -> APIRouter:
    """The web gallery's router. `authenticate(store, token)` returns the token's Principal or
    raises one of `refused` (unknown, revoked, malformed token)."""
    templates = Environment(
        loader=PackageLoader("gallery_sync.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters["day"] = _day
    web = Web(store, authenticate, refused, gallery, templates, RenderedCache(), page_size)
    router = APIRouter(include_in_schema=False)
    _routes(router, web)
    return router


def _routes(router: APIRouter, web: Web) -> None:
    @router.get("/")
    def home() -> Response:
        return _secured(RedirectResponse("/models", 302))

    @router.get("/models")
    def models(request: Request) -> Response:
        store = web.store()
        who = _visitor(request, store)
        listing = _listing(web, store, who, request)
        return _page(web, request, who, "models.html", listing.context())

    @router.get("/models.json")
    def models_json(request: Request) -> Response:
        """The Models page's query as JSON (the same page of assets; for comparison)."""
        store = web.store()
        who = _visitor(request, store)
        found = _listing(web, store, who, request)
        body = {
            "assets": [_asset_json(a) for a in found.assets],
            "total": found.total,
            "categories": found.counts,
        }
        return _secured(Response(orjson.dumps(body), media_type="application/json"))

    @router.get("/models/{asset_id}.json")
    def asset_json(request: Request, asset_id: str) -> Response:
        """An asset as JSON, as the asset page reads it (for comparison). Before the page's
        route, which would take `ID.json` for an id."""
        store = web.store()
        who = _visitor(request, store)
        found = _visible_asset(web, store, who, asset_id)
        if found is None:
            return _secured(Response(b'{"error":"not found"}', 404, media_type="application/json"))
        return _secured(Response(orjson.dumps(_asset_json(found)), media_type="application/json"))

    @router.get("/models/{asset_id}")
    def asset_page(request: Request, asset_id: str) -> Response:
        store = web.store()
        who = _visitor(request, store)
        return _asset_page(web, request, store, who, asset_id)

    @router.post("/models/{asset_id}/subscribe")
    async def subscribe(request: Request, asset_id: str) -> Response:
        form = await _form(request)
        return await run_in_threadpool(_subscribe, web, request, asset_id, form)

    @router.get("/my/assets")
    def my_assets(request: Request) -> Response:
        store = web.store()
        who = _visitor(request, store)
        if who.account is None:
            return _secured(RedirectResponse("/signin?next=/my/assets", 303))
        return _page(web, request, who, "my_assets.html", _my_assets(web, store, who))

    @router.get("/signin")
    def signin_form(request: Request) -> Response:
        store = web.store()
        who = _visitor(request, store)
        return _page(
            web, request, who, "signin.html", {"error": None, "next": _next(request, None)}
        )

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        form = await _form(request)
        return await run_in_threadpool(_signin, web, request, form)

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        form = await _form(request)
        return await run_in_threadpool(_signout, web, request, form)

    @router.get("/static/{name}")
    def static(request: Request, name: str) -> Response:
        found = STATIC.get(name)
        if found is None:
            return _not_found(web, request, _visitor(request, web.store()))
        data, media_type, etag = found
        headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return _secured(Response(status_code=304, headers=headers))
        return _secured(Response(data, media_type=media_type, headers=headers))

    @router.get("/covers/{sha256}")
    def cover(request: Request, sha256: str) -> Response:
        store = web.store()
        who = _visitor(request, store)
        data = web.gallery(store, who.principal).cover(sha256) if SHA256.match(sha256) else None
        if data is None:
            return _not_found(web, request, who)
        # Shared caches may keep a cover anyone may see; another stays in the browser's own.
        public = who.account is None or (
            web.gallery(store, sessions.ANONYMOUS).cover(sha256) is not None
        )
        etag = f'"{sha256}"'
        headers = {"Cache-Control": COVER_CACHE if public else PRIVATE_COVER_CACHE, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return _secured(Response(status_code=304, headers=headers))
        return _secured(Response(data, media_type=_image_type(data), headers=headers))


# --- The visitor, forms, responses ---------------------------------------------------------


def _visitor(request: Request, store: Store) -> Visitor:
    return sessions.visitor(store, request.cookies.get(sessions.SESSION_COOKIE))


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each); at most MAX_FORM bytes read."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _page(
    web: Web,
    request: Request,
    who: Visitor,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> Response:
    """A page for this visitor, with the CSRF token its forms carry (a new CSRF cookie for a
    visitor not signed in that has none yet)."""
    cookie = request.cookies.get(sessions.CSRF_COOKIE)
    new_cookie = None
    if who.session is None and not cookie:
        cookie = new_cookie = sessions.new_secret()
    html = web.templates.get_template(template).render(
        visitor=who, csrf=sessions.csrf_expected(who, cookie), path=request.url.path, **context
    )
    response = Response(html, status, media_type=HTML, headers={"Cache-Control": "no-store"})
    if new_cookie is not None:
        _cookie(response, request, sessions.CSRF_COOKIE, new_cookie, sessions.SESSION_SECONDS)
    return _secured(response)


def _not_found(web: Web, request: Request, who: Visitor) -> Response:
    """The same page for an asset that is not there and one the visitor may not see."""
    return _page(web, request, who, "not_found.html", {}, 404)


def _refused_form(web: Web, request: Request, who: Visitor) -> Response:
    return _page(web, request, who, "forbidden.html", {}, 403)


def _csrf_ok(request: Request, who: Visitor, form: Mapping[str, str]) -> bool:
    expected = sessions.csrf_expected(who, request.cookies.get(sessions.CSRF_COOKIE))
    return sessions.csrf_valid(expected, form.get(sessions.CSRF_FIELD))


def _next(request: Request, given: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    target = given if given is not None else request.query_params.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target[:200]
    return "/models"


# --- Models ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listing:
    text: str
    chosen: list[str]
    counts: dict[str, int]
    categories: list[str]
    assets: list[Asset]
    total: int
    page: int
    pages: int

    def link(self, page: int) -> str:
        query: list[tuple[str, str | int]] = []
        if self.text:
            query.append(("q", self.text))
        query += [("category", c) for c in self.chosen]
        if page > 1:
            query.append(("page", page))
        return "/models" + ("?" + urlencode(query) if query else "")

    def context(self) -> dict[str, Any]:
        return {
            "listing": self,
            "cards": [_card(a) for a in self.assets],
            "previous": self.link(self.page - 1) if self.page > 1 else None,
            "following": self.link(self.page + 1) if self.page < self.pages else None,
        }


def _audience(web: Web, store: Store, who: Visitor) -> Audience:
    local = who.principal.local or who.principal.role is Role.ADMIN
    return Audience(who.account, sees_all=local)


def _listing(web: Web, store: Store, who: Visitor, request: Request) -> Listing:
    params = request.query_params
    text = params.get("q", "")[:MAX_QUERY].strip()
    known = sorted(store.categories())
    chosen = sorted({c for c in params.getlist("category") if c in known})
    page = _page_number(params.get("page"))
    found = store.search_released(
        _audience(web, store, who),
        text=text,
        categories=chosen,
        offset=(page - 1) * web.page_size,
        limit=web.page_size,
    )
    pages = max(1, math.ceil(found.total / web.page_size))
    return Listing(text, chosen, found.categories, known, found.assets, found.total, page, pages)


def _page_number(text: str | None) -> int:
    if text is None or not text.isdigit() or len(text) > 6:
        return 1
    return max(1, int(text))


_MARKUP = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|<[^>]*>|[#*_`>|~]+|:?-{2,}:?")


def _excerpt(description: str, length: int = 160) -> str:
    """A description's first words as plain text (Markdown marks and tags left out)."""

    def plain(mark: re.Match[str]) -> str:
        if mark.group(1) is not None:  # a link or image: its text
            return mark.group(1)
        return "" if mark.group(0)[0] in "*_`~" else " "  # emphasis joins; the rest separates

    text = " ".join(_MARKUP.sub(plain, description[:2000]).split())
    return text if len(text) <= length else text[: length - 1].rsplit(" ", 1)[0] + "…"


def _card(asset: Asset) -> dict[str, Any]:
    return {"asset": asset, "excerpt": _excerpt(asset.description)}


def _asset_json(a: Asset) -> dict[str, Any]:
    return {"id": a.id, "publisher": a.publisher, "revision": a.revision, **a.to_json()}


# --- An asset's page -------------------------------------------------------------------------


def _visible_asset(web: Web, store: Store, who: Visitor, asset_id: str) -> Asset | None:
    """The asset if the visitor may see it (the service decides: rules.may_see, with the
    visitor's running terms); None alike for one that is not there."""
    if not SLUG.match(asset_id):
        return None
    return web.gallery(store, who.principal).asset(asset_id)


def _asset_page(
    web: Web,
    request: Request,
    store: Store,
    who: Visitor,
    asset_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    asset = _visible_asset(web, store, who, asset_id)
    if asset is None:
        return _not_found(web, request, who)
    term = None
    if who.account is not None and who.account != asset.publisher:
        now = time.strftime(rules.TIME_FORMAT, time.gmtime())
        for held in store.subscriptions(asset=asset.id, account=who.account):
            # As it runs now: renewed lazily by whole periods while the asset is released.
            running = rules.running_term(rules.Term(held.ends_at, held.auto_renew), asset, now)
            if running.end is None or running.end > now:
                term = running
    context = {
        "asset": asset,
        "description": web.rendered.render(asset.description),
        "visible_to": _visible_to(asset, who),
        "term": term,
        "can_subscribe": (
            who.account is not None
            and who.account != asset.publisher
            and asset.status is Status.RELEASED
            and term is None
        ),
        "error": error,
    }
    return _page(web, request, who, "asset.html", context, status)


def _visible_to(asset: Asset, who: Visitor) -> str:
    level = asset.visibility.level
    if level is VisibilityLevel.PUBLIC:
        return "Everyone"
    if level is VisibilityLevel.ONLY_ME:
        return "Only its publisher"
    if who.account == asset.publisher:  # the list itself is the publisher's to read
        return "Its publisher and " + ", ".join(sorted(asset.visibility.users))
    return "Its publisher and the accounts it names"


def _subscribe(web: Web, request: Request, asset_id: str, form: dict[str, str]) -> Response:
    store = web.store()
    who = _visitor(request, store)
    if not _csrf_ok(request, who, form):
        return _refused_form(web, request, who)
    if who.account is None:
        return _secured(RedirectResponse(f"/signin?next=/models/{asset_id}", 303))
    if _visible_asset(web, store, who, asset_id) is None:
        return _not_found(web, request, who)
    try:
        web.gallery(store, who.principal).subscribe(asset_id)
    except GalleryRefusal as refusal:
        message = "; ".join(d.message for d in refusal.diagnostics)
        return _asset_page(web, request, store, who, asset_id, error=message, status=409)
    return _secured(RedirectResponse(f"/models/{asset_id}", 303))


# --- My assets -------------------------------------------------------------------------------


def _my_assets(web: Web, store: Store, who: Visitor) -> dict[str, Any]:
    """The visitor's own assets, each with its last change (the audit entry and the message or
    commit it came from) and its drift as the reconciler last reported it (None: unknown)."""
    service = web.gallery(store, who.principal)
    account = who.account
    own = sorted(
        (a for a in service.read_state().assets.values() if a.publisher == account),
        key=lambda a: a.id,
    )
    last: dict[str, Any] = {}
    drift: dict[str, Any] = {}
    for entry in service.history():  # newest first
        kind = entry.change.get("kind")
        if kind in DRIFT_KINDS:
            drift.setdefault(entry.asset, entry)
        else:
            last.setdefault(entry.asset, entry)
    rows = [{"asset": a, "last": last.get(a.id), "drift": drift.get(a.id)} for a in own]
    return {"rows": rows}


# --- Signing in and out ----------------------------------------------------------------------


def _signin(web: Web, request: Request, form: dict[str, str]) -> Response:
    store = web.store()
    who = _visitor(request, store)
    target = _next(request, form.get("next"))
    if not _csrf_ok(request, who, form):
        return _refused_form(web, request, who)
    token = form.get("token", "").strip()
    error = None
    principal = None
    if not token:
        error = "Paste your token to sign in."
    else:
        try:
            principal = web.authenticate(store, token)
        except web.refused:
            error = "That token is unknown or revoked. Ask the gallery's operator for one."
    if principal is None or principal.account is None:
        context = {"error": error or "That token does not name an account.", "next": target}
        # The token is never put back into the page.
        return _page(web, request, who, "signin.html", context, 401)
    if who.session is not None:
        store.end_session(who.session.session_hash)
    session_id = sessions.begin(store, token)
    response = _secured(RedirectResponse(target, 303))
    _cookie(response, request, sessions.SESSION_COOKIE, session_id, sessions.SESSION_SECONDS)
    return response


def _signout(web: Web, request: Request, form: dict[str, str]) -> Response:
    store = web.store()
    who = _visitor(request, store)
    if not _csrf_ok(request, who, form):
        return _refused_form(web, request, who)
    if who.session is not None:
        store.end_session(who.session.session_hash)
    response = _secured(RedirectResponse("/models", 303))
    response.delete_cookie(sessions.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- Little formats ---------------------------------------------------------------------------


def _day(stamp: str | None) -> str:
    """2025-03-01T10:00:00Z -> 1 March 2025 (UTC)."""
    if not stamp:
        return ""
    try:
        parsed = time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return stamp
    return f"{parsed.tm_mday} {time.strftime('%B %Y', parsed)}"


_IMAGE_TYPES = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)


def _image_type(data: bytes) -> str:
    for magic, media_type in _IMAGE_TYPES:
        if data.startswith(magic):
            return media_type
    return "application/octet-stream"
