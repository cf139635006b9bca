"""The Gallery protocol over HTTP: the client of `gallery-sync serve` (SPEC section 7).

One httpx.Client per gallery (connection reuse, gzip, timeouts); the token comes from
GALLERY_TOKEN only and is never printed. Idempotent requests (GETs, and batch writes, which
carry an Idempotency-Key) are retried on connection errors, 429 and 503 with exponential
backoff and full jitter, honouring Retry-After, within a bounded number of tries and time."""

from __future__ import annotations

import base64
import os
import random
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.errors import GalleryRefusal, GallerySyncError, GalleryUnavailable, UsageError
from gallery_sync.gallery import Admin, AuditEntry, SubscriberSummary, WriteBatches, WriteRequest
from gallery_sync.model import Application, Asset, Catalog, GalleryState

if TYPE_CHECKING:
    import httpx

TOKEN_VARIABLE = "GALLERY_TOKEN"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
TRIES = 5
RETRY_BUDGET = 30.0  # seconds of waiting, at most, over one request's retries
BASE_DELAY = 0.25
BATCH = 500  # writes per POST /v1/writes
CONCURRENCY = 4  # batches in flight at once
RETRIED_STATUS = frozenset({429, 502, 503, 504})
DRIFT_BATCH = 5000  # assets per POST /v1/drift
GET_IDS_LIMIT = 4000  # characters of ids a GET /v1/state carries; more go in a POST body

Outcome = int | GalleryRefusal


def _trusting_no_one() -> Any:
    """The TLS context of a gallery at an http:// URL, which never speaks TLS (redirects are
    not followed): one that trusts no certificate, so that none is loaded. httpx's default
    loads the whole certificate store, 30-60 ms of every command."""
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and trusts no one: refuses


class HttpGallery:
    """A served gallery, as the token in GALLERY_TOKEN (anonymous without one) sees it."""

    def __init__(self, url: str, *, token: str | None = None, transport: Any = None) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._token = (token if token is not None else os.environ.get(TOKEN_VARIABLE)) or None
        headers = {"Accept": "application/json", "User-Agent": "gallery-sync"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=CONCURRENCY + 2),
            transport=transport,
            **({"verify": _trusting_no_one()} if self.url.startswith("http://") else {}),
        )
        self._account: tuple[str | None] | None = None

    # --- the wire ----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """The response (any status), retrying what may be retried; GalleryUnavailable when
        the service cannot be reached or keeps saying it is unavailable."""
        import httpx

        content = orjson.dumps(body) if body is not None else None
        if content is not None:
            headers = {"Content-Type": "application/json", **(headers or {})}
        waited = 0.0
        for attempt in range(1, TRIES + 1):
            try:
                response = self._client.request(
                    method, path, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                failure = f"cannot reach {self.url}: {_reason(exc)}"
                retry_after = None
            else:
                if response.status_code not in RETRIED_STATUS:
                    return response
                failure = f"{self.url} answered {response.status_code}: {_detail(response)}"
                retry_after = _retry_after(response)
            if not retry or attempt == TRIES:
                break
            delay = random.uniform(0, BASE_DELAY * 2 ** (attempt - 1))  # full jitter
            if retry_after is not None:
                delay = max(delay, retry_after)
            if waited + delay > RETRY_BUDGET:
                break
            time.sleep(delay)
            waited += delay
        raise GalleryUnavailable(failure)

    def _get(self, path: str, **params: Any) -> Any:
        response = self._send(
            "GET", path, params={k: v for k, v in params.items() if v is not None}
        )
        return self._ok(response)

    def _ok(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise _refusal(response)
        return orjson.loads(response.content)

    def _need_token(self, what: str) -> None:
        if self._token is None:
            raise UsageError(
                f"{what} on {self.url} needs a token: set {TOKEN_VARIABLE} (never a flag or a "
                "file in the repository)"
            )

    # --- the Gallery protocol ------------------------------------------------------------

    def account(self) -> str | None:
        """The token's account. plan asks it first: without a token there is nothing of one's
        own to plan against, so that is said here, in one line."""
        self._need_token("planning")
        if self._account is None:
            self._account = (self._get("/v1/me")["account"],)
        return self._account[0]

    def catalog(self, applications: Collection[tuple[str, str]] | None = None) -> Catalog:
        apps: dict[tuple[str, str], Application] = {}
        if applications is None or applications:
            if self._token is not None:
                for a in self._get("/v1/applications")["applications"]:
                    apps[(a["region"], a["name"])] = Application(a["name"], a["region"], a["image"])
            if applications is not None and set(applications) <= set(apps):
                apps = {key: apps[key] for key in set(applications)}
        return Catalog(
            categories=frozenset(self._get("/v1/categories")["categories"]),
            agreements=frozenset(self._get("/v1/agreements")["agreements"]),
            applications=apps,
            allowed_registries=tuple(self._get("/v1/registries")["allowed_registries"]),
        )

    def read_state(
        self, ids: Collection[str] = (), *, same_as: Mapping[str, Asset] | None = None
    ) -> GalleryState:
        joined = ",".join(sorted(ids))
        if same_as:
            # The state digest of each: the gallery answers only the revision of an asset it
            # holds in that state, not the asset.
            known = {i: a.state_digest() for i, a in same_as.items()}
            query = {"ids": sorted(ids), "known": known}
            body = self._ok(self._send("POST", "/v1/state", body=query))
        elif len(joined) <= GET_IDS_LIMIT:
            body = self._get("/v1/state", ids=joined or None)
        else:
            body = self._ok(self._send("POST", "/v1/state", body={"ids": sorted(ids)}))
        state = GalleryState({i: _asset(a) for i, a in body["assets"].items()})
        unchanged = body.get("unchanged") or {}
        if not same_as:
            return state
        if not all(i in same_as and type(r) is int for i, r in unchanged.items()):
            raise GallerySyncError(
                f"{self.url} answered an unchanged asset that was not asked about, or one "
                "without a revision: it is not a gallery-sync server of this version"
            )
        return state.completed(unchanged, same_as)

    def write_assets(self, requests: Sequence[WriteRequest]) -> WriteBatches:
        if not requests:
            return
        if self._token is None:  # refused as the service would, without asking it
            why = f"writing needs a token on {self.url}: set {TOKEN_VARIABLE}"
            yield [
                GalleryRefusal([Diagnostic.of("unauthenticated", why, asset=r.asset_id)])
                for r in requests
            ]
            return
        batches = _batches(requests)
        distinct = len({r.asset_id for r in requests}) == len(requests)
        if not distinct or len(batches) == 1:  # an asset written twice: in order, one by one
            for batch in batches:
                if (yield self._write_batch(batch)):  # asked to stop: begin no further batch
                    return
            return
        with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="gallery-write") as pool:
            futures = [pool.submit(self._write_batch, batch) for batch in batches]
            try:
                for index, future in enumerate(futures):
                    if (yield future.result()):
                        # Asked to stop: what has not begun never will; what has (the pool
                        # runs in order, so a prefix) is written, and yielded to be reported.
                        for waiting in futures[index + 1 :]:
                            waiting.cancel()
                        for running in futures[index + 1 :]:
                            if running.cancelled():
                                break
                            yield running.result()
                        return
            finally:
                for future in futures:
                    future.cancel()

    def _write_batch(self, batch: Sequence[WriteRequest]) -> list[Outcome]:
        # One key per batch: a retry after a lost answer returns the first result, unwritten.
        key = str(uuid.uuid4())
        body = {"writes": [_write_json(r) for r in batch]}
        response = self._send("POST", "/v1/writes", body=body, headers={"Idempotency-Key": key})
        results = self._ok(response)["results"]
        if len(results) != len(batch):
            raise GallerySyncError(
                f"{self.url} answered {len(results)} results for {len(batch)} writes"
            )
        return [
            r["revision"] if "revision" in r else GalleryRefusal([_diagnostic(r["problem"])])
            for r in results
        ]

    def history(self, asset_id: str | None = None) -> list[AuditEntry]:
        entries: list[AuditEntry] = []
        cursor = None
        while True:
            page = self._get("/v1/audit", asset=asset_id, limit=1000, cursor=cursor)
            entries += [AuditEntry(**e) for e in page["entries"]]
            cursor = page["next"]
            if cursor is None:
                return entries

    def cover(self, sha256: str) -> bytes | None:
        response = self._send("GET", f"/v1/covers/{sha256}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise _refusal(response)
        return response.content

    def subscribers(self, asset_id: str) -> SubscriberSummary:
        response = self._send("GET", f"/v1/assets/{asset_id}/subscriptions")
        if response.status_code == 404:
            return SubscriberSummary()
        body = self._ok(response)
        return SubscriberSummary(body["count"], body["last_end"])

    def add_application(self, app: Application) -> str:
        self._need_token("registering an application")
        body = {"name": app.name, "region": app.region, "image": app.image}
        response = self._send("POST", "/v1/applications", body=body, retry=False)
        return str(self._ok(response)["outcome"])

    def report_drift(self, findings: Mapping[str, Sequence[str]], commit: str = "") -> list[str]:
        self._need_token("reporting drift")
        if not findings:
            return []
        # Safe to retry: the service records only changes of state, so a repeat writes nothing.
        items = list(findings.items())
        recorded: list[str] = []
        for start in range(0, len(items), DRIFT_BATCH):
            part = {a: list(f) for a, f in items[start : start + DRIFT_BATCH]}
            body = {"findings": part, "commit": commit}
            recorded += self._ok(self._send("POST", "/v1/drift", body=body))["recorded"]
        return recorded

    def admin(self) -> Admin | None:
        return None  # the operator's: `gallery-sync admin ... --store URL`

    def close(self) -> None:
        self._client.close()


def _batches(requests: Sequence[WriteRequest]) -> list[Sequence[WriteRequest]]:
    return [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]


def _write_json(r: WriteRequest) -> dict[str, Any]:
    return {
        "asset": r.asset_id,
        "expected_revision": r.expected_revision,
        "operations": [op.to_json() for op in r.operations],
        "accepted_agreements": sorted(r.accepted_agreements),
        "plan_hash": r.plan_hash,
        "message": r.message,
        "covers": {sha: base64.b64encode(data).decode() for sha, data in r.covers.items()},
    }


def _asset(data: dict[str, Any]) -> Asset:
    return Asset.from_json(data["id"], data["publisher"], data, revision=data["revision"])


def _diagnostic(problem: dict[str, Any]) -> Diagnostic:
    code = problem.get("code")
    if not isinstance(code, str) or code not in _codes():
        code = "gallery-error"
    return Diagnostic.of(
        code,
        str(problem.get("detail") or problem.get("title") or "refused"),
        asset=problem.get("asset"),
        version=problem.get("version"),
    )


def _codes() -> Collection[str]:
    from gallery_sync.diagnostics import CODES

    return CODES


def _refusal(response: httpx.Response) -> GallerySyncError:
    """An error answer as the CLI shows it: a refusal with the service's code and detail."""
    try:
        problem = orjson.loads(response.content)
        if not isinstance(problem, dict):
            raise ValueError
    except ValueError:
        return GalleryUnavailable(
            f"{response.request.url} answered {response.status_code} without a problem body"
        )
    return GalleryRefusal([_diagnostic(problem)])


def _detail(response: httpx.Response) -> str:
    try:
        return str(orjson.loads(response.content).get("detail", "unavailable"))
    except (ValueError, AttributeError):
        return "unavailable"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), RETRY_BUDGET)
    except ValueError:
        return None


def _reason(exc: Exception) -> str:
    """`connection refused`, `timed out`, ... rather than a chain of library messages."""
    import httpx

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    lowered = text.lower()
    for known in ("connection refused", "name or service not known", "no route to host"):
        if known in lowered:
            return known
    return text.splitlines()[0]
