"""The `/v1` routes: each translates HTTP to one gallery-service call and back; no rule and no
SQL lives here. Asset bodies are serialised with orjson, not per-asset pydantic models."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import Principal, WriteRequest
from gallery_sync.gallery.accounts import Unauthenticated, authenticate
from gallery_sync.gallery.service import Store
from gallery_sync.model import Application, Asset, Operation, OpKind
from gallery_sync.server import problems
from gallery_sync.server.problems import Problem
from gallery_sync.server.service import ServedGallery, ThreadStore

router = APIRouter()

JSON = "application/json"
SLUG = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
SHA256 = r"^[0-9a-f]{64}$"
MAX_WRITES = 1000
MAX_IDS = 100_000
MAX_DRIFT = 10_000  # assets per drift report
IMMUTABLE = "private, max-age=31536000, immutable"

AssetId = Annotated[str, Field(pattern=SLUG)]


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), status, headers, JSON)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an Authorization header (None: no header, an anonymous caller)."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthenticated", "the Authorization header is not 'Bearer TOKEN'")
    return token.strip()


def _principal(request: Request, authorization: str | None) -> Principal:
    store = request.app.state.stores.get()
    token = bearer_token(authorization)
    try:
        return authenticate(store, token)
    except Unauthenticated:
        raise Problem(
            401,
            "unauthenticated",
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


def gallery(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Iterator[ServedGallery]:
    """The gallery service as the caller's token says (anonymous without one)."""
    principal = _principal(request, authorization)
    yield ServedGallery(cast(Store, ThreadStore(request.app.state.stores.get)), principal)


Gallery = Annotated[ServedGallery, Depends(gallery)]


def _asset_json(a: Asset) -> dict[str, Any]:
    return {"id": a.id, "publisher": a.publisher, "revision": a.revision, **a.to_json()}


def _etag(revision: int) -> str:
    return f'"{revision}"'


def _needs_account(g: ServedGallery, what: str) -> str:
    if g.principal.account is None:
        raise Problem(401, "unauthenticated", f"{what} needs a token (Authorization: Bearer)")
    return g.principal.account


# --- who am I ------------------------------------------------------------------------------


@router.get("/v1/me", summary="The caller's account and role (null: anonymous)")
def me(g: Gallery) -> Response:
    role = g.principal.role.value if g.principal.role is not None else None
    return _json({"account": g.principal.account, "role": role})


# --- assets --------------------------------------------------------------------------------


@router.get("/v1/assets", summary="The assets the caller may see, in id order, by pages")
def list_assets(
    g: Gallery,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    after = _decode_cursor(cursor)
    found, following = g.page(after, limit)
    body: dict[str, Any] = {"assets": [_asset_json(a) for a in found], "next": None}
    headers = {}
    if following is not None:
        body["next"] = token = _encode_cursor(following)
        headers["Link"] = f'</v1/assets?limit={limit}&cursor={token}>; rel="next"'
    return _json(body, headers=headers)


def _encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Problem(400, "request-invalid", "the cursor is not one this service gave") from None


@router.get("/v1/assets/{asset_id}", summary="One asset (ETag: its revision)")
def get_asset(g: Gallery, asset_id: str) -> Response:
    # server.fastpath answers most of these before FastAPI, with the same two functions.
    found = g.asset(asset_id)
    if found is None:
        raise asset_not_found(asset_id)
    return asset_response(found)


def asset_response(found: Asset) -> Response:
    """GET /v1/assets/{id}'s answer for an asset the caller may see."""
    return _json(_asset_json(found), headers={"ETag": _etag(found.revision)})


def asset_not_found(asset_id: str) -> Problem:
    """GET /v1/assets/{id}'s answer for an asset that is not there or the caller may not see."""
    return problems.not_found(f"asset {asset_id!r}")


class OperationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: OpKind
    version: str | None = Field(default=None, max_length=100)
    value: Any = None


class _Declared(BaseModel):
    """What a publisher declares with a write: agreements accepted, its message, new covers."""

    model_config = ConfigDict(extra="forbid")
    accepted_agreements: list[Annotated[str, Field(max_length=100)]] = Field(
        default=[], max_length=100
    )
    message: str = Field(default="", max_length=10_000)
    covers: dict[Annotated[str, Field(pattern=SHA256)], str] = Field(
        default={}, description="sha256 -> the image, base64"
    )


class AssetWrite(_Declared):
    """What one write to one asset does, and on what the publisher agreed."""

    operations: list[OperationBody] = Field(max_length=10_000)
    plan_hash: str = Field(default="", max_length=200)


class BatchWrite(AssetWrite):
    asset: AssetId
    expected_revision: int | None = Field(ge=0, description="null: the asset must not exist")


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    writes: list[BatchWrite] = Field(max_length=MAX_WRITES)


def _covers(body: AssetWrite, asset_id: str) -> dict[str, bytes]:
    out = {}
    for sha, text in body.covers.items():
        try:
            out[sha] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(
                422, "request-invalid", f"cover {sha[:12]}… is not base64", asset=asset_id
            ) from None
    return out


def _request(asset_id: str, expected: int | None, body: AssetWrite) -> WriteRequest:
    return WriteRequest(
        asset_id,
        expected,
        tuple(Operation(op.kind, op.version, op.value) for op in body.operations),
        frozenset(body.accepted_agreements),
        body.plan_hash,
        body.message,
        _covers(body, asset_id),
    )


def _expected(if_match: str | None, if_none_match: str | None) -> int | None:
    if if_none_match is not None and if_none_match.strip() == "*":
        return None
    if if_match is None:
        raise Problem(
            428,
            "request-invalid",
            'a write needs If-Match: "REVISION" (or If-None-Match: * to create the asset)',
        )
    found = re.fullmatch(r'\s*(?:W/)?"?(\d{1,18})"?\s*', if_match)
    if found is None:
        raise Problem(400, "request-invalid", "If-Match must be a revision this service gave")
    return int(found.group(1))


def _write_one(request: Request, g: ServedGallery, write: WriteRequest) -> Response:
    _needs_account(g, "a write")
    [[outcome]] = list(g.write_assets([write]))
    _count(request, [outcome])
    if isinstance(outcome, GalleryRefusal):
        raise problems.of_refusal(outcome)
    return _json({"revision": outcome}, headers={"ETag": _etag(outcome)})


@router.patch("/v1/assets/{asset_id}", summary="Apply operations to one asset (If-Match)")
def patch_asset(
    request: Request,
    g: Gallery,
    asset_id: Annotated[str, Path(pattern=SLUG)],
    body: AssetWrite,
    if_match: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    write = _request(asset_id, _expected(if_match, if_none_match), body)
    return _write_one(request, g, write)


class AssetPut(_Declared):
    asset: dict[str, Any] = Field(description="the asset as `show --format json` has it")


@router.put("/v1/assets/{asset_id}", summary="Make one asset as given (If-Match)")
def put_asset(
    request: Request,
    g: Gallery,
    asset_id: Annotated[str, Path(pattern=SLUG)],
    body: AssetPut,
    if_match: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    from gallery_sync.plan import derive_operations

    expected = _expected(if_match, if_none_match)
    account = _needs_account(g, "a write")
    fields = {k: v for k, v in body.asset.items() if k not in ("id", "publisher", "revision")}
    try:
        desired = Asset.from_json(asset_id, account, fields)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Problem(422, "request-invalid", f"the asset is malformed: {exc}") from None
    current = g.read_state([asset_id]).assets.get(asset_id)
    if current is not None and current.publisher != account:
        current = None  # the write is refused as another's by the rules, not here
    operations = derive_operations(current, desired)
    as_write = AssetWrite(
        operations=[
            OperationBody(kind=o.kind, version=o.version, value=o.value) for o in operations
        ],
        accepted_agreements=body.accepted_agreements,
        message=body.message,
        covers=body.covers,
    )
    return _write_one(request, g, _request(asset_id, expected, as_write))


# --- subscriptions -------------------------------------------------------------------------


@router.get(
    "/v1/assets/{asset_id}/subscriptions",
    summary="Who keeps access if the asset is discontinued (its owner asks)",
)
def subscriptions(g: Gallery, asset_id: str) -> Response:
    found = g.asset(asset_id)
    if found is None or found.publisher != g.principal.account:
        raise problems.not_found(f"asset {asset_id!r}")
    summary = g.subscribers(asset_id)
    return _json({"count": summary.count, "last_end": summary.last_end})


@router.post("/v1/assets/{asset_id}/subscriptions", summary="Subscribe to a released asset")
def subscribe(g: Gallery, asset_id: str) -> Response:
    _needs_account(g, "subscribing")
    asset = g.asset(asset_id)
    if asset is None:
        raise problems.not_found(f"asset {asset_id!r}")
    term = g.subscribe(asset_id)
    return _json(
        {
            "asset": term.asset,
            "account": term.account,
            "started_at": term.started_at,
            "ends_at": term.ends_at,
            # Whether it renews at its end as the asset's limit says now (the stored flag
            # only says it still may: a changed limit applies to renewals).
            "auto_renew": term.auto_renew and asset.duration_limit.auto_renew,
        },
        201,
    )


# --- drift (SPEC 9: what a reconciler found) ------------------------------------------------


class DriftReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    findings: dict[
        Annotated[str, Field(max_length=200)],
        Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)],
    ] = Field(max_length=MAX_DRIFT)
    commit: str = Field(default="", pattern=r"^([0-9a-f]{40}|[0-9a-f]{64})?$")


@router.post("/v1/drift", summary="Record a reconciler's drift findings on the caller's assets")
def report_drift(g: Gallery, body: DriftReport) -> Response:
    _needs_account(g, "reporting drift")
    return _json({"recorded": g.report_drift(body.findings, body.commit)})


# --- covers, catalog -----------------------------------------------------------------------


@router.get("/v1/covers/{sha256}", summary="A cover image of an asset the caller may see")
def cover(g: Gallery, sha256: str) -> Response:
    data = g.cover(sha256) if re.fullmatch(SHA256, sha256) else None
    if data is None:
        raise problems.not_found(f"cover {sha256[:64]!r}")
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Response(data, 200, {"Cache-Control": IMMUTABLE, "ETag": f'"{sha256}"'}, kind)


def _application_json(app: Application) -> dict[str, Any]:
    return {"name": app.name, "region": app.region, "image": app.image}


@router.get("/v1/applications", summary="The caller's AI applications")
def applications(g: Gallery) -> Response:
    _needs_account(g, "listing applications")
    apps = sorted(g.catalog().applications.values(), key=lambda a: (a.region, a.name))
    return _json({"applications": [_application_json(a) for a in apps]})


class ApplicationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=1, max_length=100)
    image: str | None = Field(default=None, max_length=1000)


@router.post("/v1/applications", summary="Register an AI application for the caller")
def add_application(g: Gallery, body: ApplicationBody) -> Response:
    from gallery_sync.shape import check_application

    _needs_account(g, "registering an application")
    found = check_application(body.name, body.region, body.image)
    if found:
        raise Problem(422, "request-invalid", "; ".join(found))
    outcome = g.add_application(Application(body.name, body.region, body.image))
    return _json({"outcome": outcome}, 201 if outcome == "added" else 200)


@router.get("/v1/categories", summary="The gallery's taxonomy")
def categories(g: Gallery) -> Response:
    return _json({"categories": sorted(g.catalog(()).categories)})


@router.get("/v1/agreements", summary="The agreements a publisher must accept")
def agreements(g: Gallery) -> Response:
    return _json({"agreements": sorted(g.catalog(()).agreements)})


@router.get("/v1/registries", summary="The registries container images may come from")
def registries(g: Gallery) -> Response:
    return _json({"allowed_registries": list(g.catalog(()).allowed_registries)})


# --- audit ---------------------------------------------------------------------------------


@router.get("/v1/audit", summary="The audit log of the caller's assets, newest first, by pages")
def audit(
    g: Gallery,
    asset: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    before = _decode_cursor(cursor)
    if before is not None and not before.isdigit():
        raise Problem(400, "request-invalid", "the cursor is not one this service gave")
    entries = g.history(asset)
    if before is not None:
        entries = [e for e in entries if e.id < int(before)]
    page = entries[:limit]
    body: dict[str, Any] = {
        "entries": [
            {
                "id": e.id,
                "time": e.time,
                "account": e.account,
                "asset": e.asset,
                "change": e.change,
                "plan_hash": e.plan_hash,
                "message": e.message,
            }
            for e in page
        ],
        "next": _encode_cursor(str(page[-1].id)) if len(entries) > limit else None,
    }
    return _json(body)


# --- what plan and apply use ---------------------------------------------------------------


def _state(g: ServedGallery, ids: list[str], known: dict[str, str] | None = None) -> Response:
    if known:
        state, unchanged = g.read_changed(ids, known.get)
    else:
        state, unchanged = g.read_state(ids), {}
    body: dict[str, Any] = {"assets": {i: _asset_json(a) for i, a in state.assets.items()}}
    if known:
        body["unchanged"] = unchanged
    return _json(body)


@router.get(
    "/v1/state",
    summary="The caller's own assets, and the owner of each of `ids` another publisher holds",
)
def state(g: Gallery, ids: Annotated[str, Query(max_length=8000)] = "") -> Response:
    return _state(g, [i for i in ids.split(",") if i])


class StateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=MAX_IDS)
    # id -> the state digest the client has of it: such an asset the gallery holds in that
    # state is answered in `unchanged`, by its revision alone, not in `assets`.
    known: dict[Annotated[str, Field(max_length=200)], Annotated[str, Field(max_length=64)]] = (
        Field(default={}, max_length=MAX_IDS)
    )


@router.post(
    "/v1/state",
    summary="As GET /v1/state, for more ids than a URL holds; with `known`, an asset held in "
    "the state the client has (its state digest) is answered by its revision alone",
)
def state_many(g: Gallery, body: StateQuery) -> Response:
    return _state(g, body.ids, body.known)


def _count(request: Request, outcomes: list[Any]) -> None:
    counter = request.app.state.metrics.writes
    refused = sum(isinstance(o, GalleryRefusal) for o in outcomes)
    if refused:
        counter.labels("refused").inc(refused)
    if len(outcomes) > refused:
        counter.labels("applied").inc(len(outcomes) - refused)


@router.post(
    "/v1/writes",
    summary="A batch of writes, each atomic on its own; per write its revision or a problem",
)
def writes(
    request: Request,
    g: Gallery,
    body: Batch,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Response:
    _needs_account(g, "a write")
    requests = [_request(w.asset, w.expected_revision, w) for w in body.writes]
    results: list[dict[str, Any]] = []
    # The key is claimed and kept in each batch's own transaction (GalleryService).
    for outcomes in g.write_assets(requests, idempotency_key=idempotency_key):
        _count(request, outcomes)
        for outcome in outcomes:
            request_ = requests[len(results)]
            if isinstance(outcome, GalleryRefusal):
                problem = problems.of_refusal(outcome).body()
                results.append({"asset": request_.asset_id, "problem": problem})
            else:
                results.append({"asset": request_.asset_id, "revision": outcome})
    return Response(orjson.dumps({"results": results}), 200, None, JSON)


# --- outside /v1 ---------------------------------------------------------------------------


@router.get("/healthz", summary="200 when the store answers, 503 otherwise")
def healthz(request: Request) -> Response:
    store = request.app.state.stores.get()
    try:
        store.categories()
    except Exception as exc:
        raise problems.unavailable(exc) from None
    return _json({"status": "ok"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(
        generate_latest(request.app.state.metrics.registry), 200, None, CONTENT_TYPE_LATEST
    )
