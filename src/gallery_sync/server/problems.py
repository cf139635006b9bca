"""RFC 9457 problem JSON for every error the service answers, each with a SPEC code."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.errors import GalleryRefusal, GalleryUnavailable, StoreError

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("gallery_sync.server")

# How a refusal's code answers over HTTP (SPEC section 7); any other rule refusal is 422.
STATUS_OF_CODE = {
    "unauthenticated": 401,
    "asset-owned-by-other": 403,
    "not-found": 404,
    "conflict": 409,
    "request-invalid": 400,
    "gallery-error": 503,
    "gallery-unavailable": 503,
}
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    428: "Precondition required",
    500: "Internal error",
    503: "Gallery unavailable",
}
# Seconds a client should wait before retrying a 503.
RETRY_AFTER = "2"


class Problem(Exception):
    """An error answer: raised by a route, turned into problem JSON by the app's handler."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        asset: str | None = None,
        version: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.asset, self.version = asset, version
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": f"urn:gallery-sync:problem:{self.code}",
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.asset is not None:
            out["asset"] = self.asset
        if self.version is not None:
            out["version"] = self.version
        return out

    def response(self) -> Response:
        headers = dict(self.headers)
        if self.status == 503:
            headers.setdefault("Retry-After", RETRY_AFTER)
        return Response(orjson.dumps(self.body()), self.status, headers, MEDIA_TYPE)


def of_diagnostic(d: Diagnostic) -> Problem:
    return Problem(
        STATUS_OF_CODE.get(d.code, 422), d.code, d.message, asset=d.asset, version=d.version
    )


def of_refusal(refusal: GalleryRefusal) -> Problem:
    """The first diagnostic decides the status; the detail holds them all."""
    first = refusal.diagnostics[0]
    problem = of_diagnostic(first)
    problem.detail = "; ".join(d.message for d in refusal.diagnostics)
    return problem


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", f"{what} does not exist, or you may not see it")


def unavailable(exc: BaseException) -> Problem:
    return Problem(503, "gallery-unavailable", f"the gallery's store cannot be reached: {exc}")


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is malformed"


def install(app: FastAPI) -> None:
    """Every error the app can answer, FastAPI's own included, as problem JSON; never a
    traceback in a body."""

    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        code = "not-found" if status == 404 else "request-invalid"
        detail = {404: "no such resource", 405: f"method {request.method} is not allowed here"}
        text = detail.get(status, str(exc.detail))
        return Problem(status, code, text, headers=dict(exc.headers or {})).response()

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return Problem(422, "request-invalid", _validation_detail(exc)).response()

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GalleryRefusal)
        return of_refusal(exc).response()

    async def store_down(request: Request, exc: Exception) -> Response:
        return unavailable(exc).response()

    async def internal(request: Request, exc: Exception) -> Response:
        # The operator's log gets the failure's type and message, never request headers.
        log.error(
            "internal error on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc,
        )
        return Problem(500, "gallery-error", "the gallery failed to answer; see its log").response()

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(GalleryRefusal, refused)
    app.add_exception_handler(GalleryUnavailable, store_down)
    app.add_exception_handler(StoreError, store_down)
    app.add_exception_handler(Exception, internal)
