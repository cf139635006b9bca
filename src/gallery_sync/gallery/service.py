"""The gallery service: the one place that knows who is calling. It owns reads (filtered by
`rules.may_see`) and writes (the same rules as plan, in batches) over a simple store."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from gallery_sync import rules, shape
from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.errors import GalleryRefusal, StoreError
from gallery_sync.gallery import (
    Admin,
    AuditEntry,
    Principal,
    Role,
    SubscriberSummary,
    Subscription,
    Token,
    WriteRequest,
)
from gallery_sync.model import (
    Application,
    Asset,
    Catalog,
    GalleryState,
    Operation,
    OpKind,
    apply_operation,
)

# Writes per store transaction. Each asset stays atomic on its own (see _write_batch); the
# batch only shares the cost of a commit. A crash loses at most one uncommitted batch, which
# apply never reported as applied.
BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class AuditRecord:
    account: str
    asset: str
    change: dict[str, object]
    plan_hash: str
    message: str


@dataclass(frozen=True, slots=True)
class StoredWrite:
    """A write the rules allowed: the asset as it will be stored, its new covers, its audit."""

    asset: Asset
    revision: int
    covers: dict[str, bytes]
    audit: list[AuditRecord]


AppKey = tuple[str, str]  # (region, name)

# Whose applications: the embedded gallery's own catalog is the account '' (`apps add` runs
# without a config, and every publisher of an embedded gallery uses it); on a served gallery
# an account's own.
EMBEDDED_ACCOUNT = ""


class CatalogSource(Protocol):
    """The catalog as a store keeps it; read in a transaction or outside one."""

    def categories(self) -> frozenset[str]: ...

    def agreements(self) -> frozenset[str]: ...

    def allowed_registries(self) -> tuple[str, ...]: ...

    def applications(
        self, keys: Collection[AppKey], account: str = EMBEDDED_ACCOUNT
    ) -> dict[AppKey, Application]:
        """Only the account's applications with these keys (targeted: a plan reads a few of
        thousands)."""

    def list_applications(self, account: str = EMBEDDED_ACCOUNT) -> list[Application]: ...


class Transaction(CatalogSource, Protocol):
    """One store transaction: everything in it lands together or not at all."""

    def get_assets(self, asset_ids: Collection[str]) -> dict[str, Asset]: ...

    def known_covers(self, sha256s: Collection[str]) -> set[str]: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit: an exception inside undoes what it wrote (raised as StoreError)."""

    def store(self, writes: Sequence[StoredWrite], audit: Sequence[AuditRecord] = ()) -> None:
        """Keep the assets, covers and audit records of these writes; StoreError if it cannot."""

    def remember(self, key: str, account: str, response: str) -> None:
        """Keep a write's reply for its Idempotency-Key, with the write (the first one stays)."""


class Store(CatalogSource, Admin, Protocol):
    """A simple store: keeps and finds what it is asked to; decides no rule, knows no caller.
    SqliteStore (gallery/local.py) and PostgresStore (gallery/postgres.py) implement it; the
    store contract suite (tests/contract/test_store_contract.py) says what each must do."""

    url: str

    def transaction(self) -> AbstractContextManager[Transaction]:
        """BEGIN (taking the write lock) ... COMMIT; StoreError when the store fails."""

    def assets(
        self,
        *,
        ids: Collection[str] | None = None,
        publisher: str | None = None,
        cover: str | None = None,
    ) -> dict[str, Asset]:
        """The assets matching every filter given (all of them with none)."""

    def owners(self, ids: Collection[str]) -> dict[str, str]:
        """id -> publisher of those of `ids` the store holds."""

    def page_assets(self, after: str | None, limit: int) -> list[Asset]:
        """Up to `limit` assets in id order, after the id `after` (None: from the first)."""

    def history(
        self,
        *,
        asset: str | None = None,
        publisher: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """The audit log, newest first: of one asset, and/or of one publisher's assets (and
        the entries it wrote itself); `after_id`: the entries older than it; at most `limit`."""

    def cover(self, sha256: str) -> bytes | None: ...

    def add_application(self, app: Application, account: str = EMBEDDED_ACCOUNT) -> str:
        """Register an application of `account`: "added", "updated" or "unchanged"."""

    def schema_version(self) -> int: ...

    # --- Tokens (only a hash is kept) ---

    def create_token(self, account: str, role: str, token_hash: str) -> int: ...

    def token(self, token_hash: str) -> Token | None: ...

    def list_tokens(self) -> list[Token]: ...

    def revoke_token(self, token_id: int) -> bool:
        """False if there is no such token, or it was revoked before."""

    # --- Subscriptions ---

    def subscribe(
        self, asset: str, account: str, start: str, end: str | None, auto_renew: bool
    ) -> None: ...

    def subscriptions(
        self, asset: str | None = None, account: str | None = None
    ) -> list[Subscription]: ...

    # --- Idempotency ---

    def idempotent(self, key: str, account: str) -> str | None:
        """The reply kept for this Idempotency-Key of this account, if any."""

    def remember(self, key: str, account: str, response: str) -> None: ...

    def close(self) -> None: ...


def compose_catalog(
    source: CatalogSource, keys: Collection[AppKey] | None, account: str | None
) -> Catalog:
    """The catalog with `account`'s applications of `keys` (all for None; none for no
    account). A key the store does not hold brings the account's whole list: the rules then
    name the application probably meant, and that only happens when a plan is wrong."""
    found: dict[AppKey, Application] = {}
    if account is not None and keys is None:
        found = {(a.region, a.name): a for a in source.list_applications(account)}
    elif account is not None and keys:
        found = source.applications(keys, account)
        if len(found) < len(set(keys)):
            found = {(a.region, a.name): a for a in source.list_applications(account)}
    return Catalog(
        categories=source.categories(),
        agreements=source.agreements(),
        applications=found,
        allowed_registries=source.allowed_registries(),
    )


def application_keys(requests: Sequence[WriteRequest]) -> set[AppKey]:
    """The applications the versions these writes add name (a malformed one names none)."""
    keys: set[AppKey] = set()

    def add(version: object) -> None:
        if isinstance(version, dict):
            region, name = version.get("region"), version.get("ai_application")
            if isinstance(region, str) and isinstance(name, str):
                keys.add((region, name))

    for request in requests:
        for op in request.operations:
            if op.kind is OpKind.ADD_VERSION:
                add(op.value)
            elif op.kind is OpKind.CREATE and isinstance(op.value, dict):
                versions = op.value.get("versions")
                if isinstance(versions, dict):
                    for version in versions.values():
                        add(version)
    return keys


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class GalleryService:
    """The Gallery protocol over a store, as one principal may use it: reads filtered by
    `rules.may_see`, writes checked by `rules.check_asset` and made as the principal's account."""

    def __init__(
        self, store: Store, principal: Principal, *, clock: Callable[[], str] = _now
    ) -> None:
        self.store = store
        self.principal = principal
        self.url = store.url
        self._clock = clock

    @property
    def _sees_all(self) -> bool:
        return self.principal.local or self.principal.role is Role.ADMIN

    def _may_see(self, asset: Asset) -> bool:
        # The stores keep subscriptions (subscribe/subscriptions), but the service does not
        # read them yet: nobody holds a running term.
        return self._sees_all or rules.may_see(
            asset, self.principal.account, rules.NOT_SUBSCRIBED, self._clock()
        )

    def account(self) -> str | None:
        # The embedded gallery is single-user: whoever runs it is publisher.account.
        return None if self.principal.local else self.principal.account

    @property
    def _applications_of(self) -> str | None:
        """Whose applications the caller uses: the embedded gallery's own catalog, else the
        caller's account's (SPEC 7); None (no applications) for an anonymous caller."""
        return EMBEDDED_ACCOUNT if self.principal.local else self.principal.account

    def catalog(self, applications: Collection[AppKey] | None = None) -> Catalog:
        return compose_catalog(self.store, applications, self._applications_of)

    def read_state(self, ids: Collection[str] = ()) -> GalleryState:
        account = self.principal.account
        if account is None:
            return GalleryState(self.store.assets() if self._sees_all else {})
        own = self.store.assets(publisher=account)
        others = self.store.owners([i for i in ids if i not in own]) if ids else {}
        stubs = {i: Asset(i, owner, "", ()) for i, owner in others.items() if owner != account}
        return GalleryState({**own, **stubs} if stubs else own)

    def write_assets(self, requests: Sequence[WriteRequest]) -> Iterator[list[Outcome]]:
        account = self.principal.account
        if account is None:
            yield [_unauthenticated(r) for r in requests]
            return
        yield from write_assets(
            self.store, requests, account=account, applications_of=self._applications_of
        )

    def write_asset(self, request: WriteRequest) -> int:
        """One write on its own: its new revision, or GalleryRefusal."""
        [[outcome]] = list(self.write_assets([request]))
        if isinstance(outcome, GalleryRefusal):
            raise outcome
        return outcome

    def history(self, asset_id: str | None = None) -> list[AuditEntry]:
        if self._sees_all:
            return self.store.history(asset=asset_id)
        account = self.principal.account
        if account is None:
            return []
        return self.store.history(asset=asset_id, publisher=account)

    def cover(self, sha256: str) -> bytes | None:
        if not self._sees_all and not any(
            self._may_see(a) for a in self.store.assets(cover=sha256).values()
        ):
            return None
        return self.store.cover(sha256)

    def subscribers(self, asset_id: str) -> SubscriberSummary:
        return SubscriberSummary()  # subscriptions are not read by the service yet

    def add_application(self, app: Application) -> str:
        account = self._applications_of
        if account is None:
            raise GalleryRefusal([_unauthenticated_diagnostic("registering an application")])
        return self.store.add_application(app, account)

    def admin(self) -> Admin | None:
        return self.store if self._sees_all else None

    def close(self) -> None:
        self.store.close()


Outcome = int | GalleryRefusal  # the asset's new revision, or why it was refused


def write_assets(
    store: Store,
    requests: Sequence[WriteRequest],
    *,
    account: str,
    applications_of: str | None = None,
) -> Iterator[list[Outcome]]:
    """Check and apply writes as `account`, each atomic; yields the outcomes of each committed
    batch. The versions may use the applications of `applications_of` (default: `account`'s).

    A batch holds no asset twice, so every write in it is checked against committed state
    or the writes before it in the same batch.
    """
    for batch in _batches(requests):
        try:
            with store.transaction() as tx:
                outcomes = _write_batch(tx, batch, account, applications_of)
        except StoreError as exc:  # begin or commit failed: nothing of the batch was kept
            outcomes = [_store_failure(r, exc) for r in batch]
        yield outcomes


def _unauthenticated_diagnostic(what: str, asset: str | None = None) -> Diagnostic:
    return Diagnostic.of("unauthenticated", f"{what} needs an account; none was given", asset=asset)


def _unauthenticated(request: WriteRequest) -> GalleryRefusal:
    return GalleryRefusal(
        [_unauthenticated_diagnostic(f"writing asset {request.asset_id!r}", request.asset_id)]
    )


def _batches(requests: Sequence[WriteRequest]) -> Iterator[Sequence[WriteRequest]]:
    start = 0
    while start < len(requests):
        seen: set[str] = set()
        end = start
        while end < len(requests) and end - start < BATCH_SIZE:
            if requests[end].asset_id in seen:
                break
            seen.add(requests[end].asset_id)
            end += 1
        yield requests[start:end]
        start = end


def _write_batch(
    tx: Transaction, requests: Sequence[WriteRequest], account: str, applications_of: str | None
) -> list[Outcome]:
    """Check every write, then store the allowed ones together; on a store error, store them
    one at a time in savepoints, so that only the write the store rejects fails."""
    stored = tx.get_assets([r.asset_id for r in requests])
    apps_account = account if applications_of is None else applications_of
    catalog = compose_catalog(tx, application_keys(requests), apps_account)
    uploaded = {sha for r in requests for sha in r.covers}
    stored_covers = dict.fromkeys(uploaded, False) | dict.fromkeys(tx.known_covers(uploaded), True)

    def has_cover(sha: str) -> bool:
        found = stored_covers.get(sha)
        if found is None:
            found = stored_covers[sha] = bool(tx.known_covers([sha]))
        return found

    contexts: dict[frozenset[str], rules.Context] = {}
    outcomes: list[Outcome] = []
    writes: list[tuple[int, StoredWrite]] = []
    refused_audit: list[AuditRecord] = []
    for request in requests:
        before = stored.get(request.asset_id)
        key = request.accepted_agreements
        ctx = contexts.get(key)
        if ctx is None:
            ctx = contexts[key] = rules.Context(catalog, account, key)
        try:
            write = _check(before, request, ctx, has_cover)
        except _Refused as refused:
            outcomes.append(refused.refusal)
            refused_audit += refused.audit
            continue
        if write is None:
            outcomes.append(before.revision if before else 0)
            continue
        writes.append((len(outcomes), write))
        outcomes.append(write.revision)
    if not writes and not refused_audit:
        return outcomes
    try:
        with tx.savepoint():
            tx.store([w for _, w in writes], refused_audit)
    except StoreError:
        for index, write in writes:
            try:
                with tx.savepoint():
                    tx.store([write])
            except StoreError as exc:
                outcomes[index] = _store_failure(requests[index], exc)
        with tx.savepoint():
            tx.store([], refused_audit)
    return outcomes


class _Refused(Exception):
    def __init__(self, refusal: GalleryRefusal, audit: list[AuditRecord]) -> None:
        self.refusal = refusal
        self.audit = audit


def _check(
    before: Asset | None,
    request: WriteRequest,
    ctx: rules.Context,
    has_cover: Callable[[str], bool],
) -> StoredWrite | None:
    """The write as it will be stored, None for no change, or _Refused with the rules' codes."""
    _check_revision(before, request)
    after = _after(before, request, ctx.publisher)
    if after is None or after == before:
        return None
    # The shape first: the rules may assume well-formed values (versions that parse, ...).
    malformed = shape.check_asset(after)
    if malformed:
        raise _Refused(GalleryRefusal(malformed), [])
    errors = [v for v in rules.check_asset(before, after, ctx) if v.severity is Severity.ERROR]
    if errors:
        # Nothing of the asset is published, but a security finding must be on record.
        audit = [
            _record(
                request,
                ctx.publisher,
                {"kind": "refused", "code": v.code, "version": v.version, "message": v.message},
            )
            for v in errors
            if v.code == "image-policy"
        ]
        raise _Refused(GalleryRefusal([_diagnostic(v, request.asset_id) for v in errors]), audit)
    new_covers = {}
    if after.cover is not None and not has_cover(after.cover):
        data = request.covers.get(after.cover)
        if data is None:
            raise _Refused(
                GalleryRefusal(
                    [
                        Diagnostic.of(
                            "file-not-found",
                            f"cover image {after.cover[:12]}… was not uploaded with the write",
                            asset=request.asset_id,
                        )
                    ]
                ),
                [],
            )
        new_covers[after.cover] = data
    return StoredWrite(
        after,
        (before.revision if before else 0) + 1,
        new_covers,
        [_record(request, ctx.publisher, _audited(op)) for op in request.operations],
    )


# What applying a malformed operation (from a hostile or damaged client) may raise.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, AssertionError, RecursionError)


def _after(before: Asset | None, request: WriteRequest, account: str) -> Asset | None:
    """The asset after the request's operations, or _Refused (`schema`) if one is malformed."""
    after = before
    for op in request.operations:
        try:
            after = apply_operation(after, op, asset_id=request.asset_id, publisher=account)
        except _MALFORMED as exc:
            kind = getattr(op.kind, "value", op.kind)
            problem = Diagnostic.of(
                "schema",
                f"the gallery refuses the write: its {kind!r} operation is malformed "
                f"({type(exc).__name__}: {shape.quoted(str(exc))})",
                asset=request.asset_id,
                version=op.version if isinstance(op.version, str) else None,
            )
            raise _Refused(GalleryRefusal([problem]), []) from exc
    return after


def _check_revision(before: Asset | None, request: WriteRequest) -> None:
    """Optimistic concurrency only; ownership is one of the rules (`rules.check_asset`)."""
    expected = request.expected_revision
    creates = bool(request.operations) and request.operations[0].kind is OpKind.CREATE
    if before is None and (expected is None) == creates:
        return
    if before is not None and expected == before.revision and not creates:
        return
    found = "does not exist" if before is None else f"is at revision {before.revision}"
    wanted = "not to exist yet" if expected is None else f"at revision {expected}"
    refusal = GalleryRefusal(
        [
            Diagnostic.of(
                "conflict",
                f"asset {request.asset_id!r} changed since it was read: it {found}, the write "
                f"expected it {wanted}. Run plan again to see the gallery as it is now",
                asset=request.asset_id,
            )
        ]
    )
    raise _Refused(refusal, [])


def _store_failure(request: WriteRequest, exc: StoreError) -> GalleryRefusal:
    return GalleryRefusal(
        [
            Diagnostic.of(
                "gallery-error",
                f"the gallery could not store the write: {exc}; nothing of it was kept",
                asset=request.asset_id,
            )
        ]
    )


def _record(request: WriteRequest, account: str, change: dict[str, object]) -> AuditRecord:
    return AuditRecord(account, request.asset_id, change, request.plan_hash, request.message)


def _diagnostic(v: rules.Violation, asset_id: str) -> Diagnostic:
    return Diagnostic(v.code, v.message, v.severity, None, asset_id, v.version)


def _audited(op: Operation) -> dict[str, object]:
    out: dict[str, object] = {"kind": op.kind.value}
    if op.version is not None:
        out["version"] = op.version
    if op.value is not None:
        out["value"] = op.value
    return out
