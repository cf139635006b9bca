"""The gallery's own write path: the same rules as plan, enforced over a store, in batches."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from gallery_sync import rules, shape
from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.errors import GalleryRefusal, StoreError
from gallery_sync.gallery import WriteRequest
from gallery_sync.model import Asset, Catalog, Operation, OpKind, apply_operation

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


class Transaction(Protocol):
    """One store transaction: everything in it lands together or not at all."""

    def get_assets(self, asset_ids: Collection[str]) -> dict[str, Asset]: ...

    def catalog(self) -> Catalog: ...

    def known_covers(self, sha256s: Collection[str]) -> set[str]: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit: an exception inside undoes what it wrote (raised as StoreError)."""

    def store(self, writes: Sequence[StoredWrite], audit: Sequence[AuditRecord] = ()) -> None:
        """Keep the assets, covers and audit records of these writes; StoreError if it cannot."""


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]:
        """BEGIN (taking the write lock) ... COMMIT; StoreError when the store fails."""


Outcome = int | GalleryRefusal  # the asset's new revision, or why it was refused


def write_assets(store: Store, requests: Sequence[WriteRequest]) -> Iterator[list[Outcome]]:
    """Check and apply writes, each atomic; yields the outcomes of each committed batch.

    A batch holds no asset twice, so every write in it is checked against committed state
    or the writes before it in the same batch.
    """
    for batch in _batches(requests):
        try:
            with store.transaction() as tx:
                outcomes = _write_batch(tx, batch)
        except StoreError as exc:  # begin or commit failed: nothing of the batch was kept
            outcomes = [_store_failure(r, exc) for r in batch]
        yield outcomes


def write_asset(store: Store, request: WriteRequest) -> int:
    """One write on its own: its new revision, or GalleryRefusal."""
    [[outcome]] = list(write_assets(store, [request]))
    if isinstance(outcome, GalleryRefusal):
        raise outcome
    return outcome


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


def _write_batch(tx: Transaction, requests: Sequence[WriteRequest]) -> list[Outcome]:
    """Check every write, then store the allowed ones together; on a store error, store them
    one at a time in savepoints, so that only the write the store rejects fails."""
    stored = tx.get_assets([r.asset_id for r in requests])
    catalog = tx.catalog()
    uploaded = {sha for r in requests for sha in r.covers}
    stored_covers = dict.fromkeys(uploaded, False) | dict.fromkeys(tx.known_covers(uploaded), True)

    def has_cover(sha: str) -> bool:
        found = stored_covers.get(sha)
        if found is None:
            found = stored_covers[sha] = bool(tx.known_covers([sha]))
        return found

    contexts: dict[tuple[str, frozenset[str]], rules.Context] = {}
    outcomes: list[Outcome] = []
    writes: list[tuple[int, StoredWrite]] = []
    refused_audit: list[AuditRecord] = []
    for request in requests:
        before = stored.get(request.asset_id)
        key = (request.account, request.accepted_agreements)
        ctx = contexts.get(key)
        if ctx is None:
            ctx = contexts[key] = rules.Context(catalog, *key)
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
    after = _after(before, request)
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
        [_record(request, _audited(op)) for op in request.operations],
    )


# What applying a malformed operation (from a hostile or damaged client) may raise.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, AssertionError, RecursionError)


def _after(before: Asset | None, request: WriteRequest) -> Asset | None:
    """The asset after the request's operations, or _Refused (`schema`) if one is malformed."""
    after = before
    for op in request.operations:
        try:
            after = apply_operation(after, op, asset_id=request.asset_id, publisher=request.account)
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


def _record(request: WriteRequest, change: dict[str, object]) -> AuditRecord:
    return AuditRecord(
        request.account, request.asset_id, change, request.plan_hash, request.message
    )


def _diagnostic(v: rules.Violation, asset_id: str) -> Diagnostic:
    return Diagnostic(v.code, v.message, v.severity, None, asset_id, v.version)


def _audited(op: Operation) -> dict[str, object]:
    out: dict[str, object] = {"kind": op.kind.value}
    if op.version is not None:
        out["version"] = op.version
    if op.value is not None:
        out["value"] = op.value
    return out
