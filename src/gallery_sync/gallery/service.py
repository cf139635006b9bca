"""The gallery's own write path: the same rules as plan, enforced over a store."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Protocol

from gallery_sync import rules
from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.errors import GalleryRefusal
from gallery_sync.gallery import WriteRequest
from gallery_sync.model import Asset, Catalog, Operation, OpKind, apply_operation


class Transaction(Protocol):
    """One store transaction: everything in it lands together or not at all."""

    def get_asset(self, asset_id: str) -> Asset | None: ...

    def save_asset(self, asset: Asset) -> None: ...

    def catalog(self) -> Catalog: ...

    def has_cover(self, sha256: str) -> bool: ...

    def put_cover(self, sha256: str, data: bytes) -> None: ...

    def audit(
        self, *, account: str, asset: str, change: dict[str, object], plan_hash: str, message: str
    ) -> None: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...


def write_asset(store: Store, request: WriteRequest) -> int:
    """Check and apply one write atomically; refuse it whole with the rules' codes."""
    findings: list[rules.Violation] = []
    try:
        with store.transaction() as tx:
            before = tx.get_asset(request.asset_id)
            _check_revision(before, request)
            after = before
            for op in request.operations:
                after = apply_operation(
                    after, op, asset_id=request.asset_id, publisher=request.account
                )
            if after is None or after == before:
                return before.revision if before else 0
            ctx = rules.Context(
                tx.catalog(), request.account, request.accepted_agreements, at_plan=False
            )
            violations = rules.check_asset(before, after, ctx)
            errors = [v for v in violations if v.severity is Severity.ERROR]
            if errors:
                findings = [v for v in errors if v.code == "image-policy"]
                raise GalleryRefusal([_diagnostic(v, request.asset_id) for v in errors])
            _store_cover(tx, after, request)
            revision = (before.revision if before else 0) + 1
            tx.save_asset(replace(after, revision=revision))
            for op in request.operations:
                tx.audit(
                    account=request.account,
                    asset=request.asset_id,
                    change=_audited(op),
                    plan_hash=request.plan_hash,
                    message=request.message,
                )
            return revision
    except GalleryRefusal:
        if findings:
            # Nothing of the asset is published, but the security finding must be on record.
            with store.transaction() as tx:
                for v in findings:
                    tx.audit(
                        account=request.account,
                        asset=request.asset_id,
                        change={
                            "kind": "refused",
                            "code": v.code,
                            "version": v.version,
                            "message": v.message,
                        },
                        plan_hash=request.plan_hash,
                        message=request.message,
                    )
        raise


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
    raise GalleryRefusal(
        [
            Diagnostic.of(
                "conflict",
                f"asset {request.asset_id!r} changed since it was read: it {found}, the write "
                f"expected it {wanted}. Run plan again to see the gallery as it is now",
                asset=request.asset_id,
            )
        ]
    )


def _store_cover(tx: Transaction, after: Asset, request: WriteRequest) -> None:
    sha = after.cover
    if sha is None or tx.has_cover(sha):
        return
    data = request.covers.get(sha)
    if data is None:
        raise GalleryRefusal(
            [
                Diagnostic.of(
                    "file-not-found",
                    f"cover image {sha[:12]}… was not uploaded with the write",
                    asset=request.asset_id,
                )
            ]
        )
    tx.put_cover(sha, data)


def _diagnostic(v: rules.Violation, asset_id: str) -> Diagnostic:
    return Diagnostic(v.code, v.message, v.severity, None, asset_id, v.version)


def _audited(op: Operation) -> dict[str, object]:
    out: dict[str, object] = {"kind": op.kind.value}
    if op.version is not None:
        out["version"] = op.version
    if op.value is not None:
        out["value"] = op.value
    return out
