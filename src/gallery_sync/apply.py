"""Runs a Plan against a Gallery: each asset atomic, committed in batches; one asset's failure
stops that asset only."""

from __future__ import annotations

import enum
import hashlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.errors import GalleryRefusal, GallerySyncError
from gallery_sync.gallery import Gallery, WriteRequest
from gallery_sync.plan import AssetPlan, Plan


class Outcome(str, enum.Enum):
    APPLIED = "applied"
    FAILED = "failed"
    NOT_TRIED = "not tried"


@dataclass(frozen=True, slots=True)
class AssetResult:
    id: str
    outcome: Outcome
    diagnostics: tuple[Diagnostic, ...] = ()
    revision: int | None = None


@dataclass(slots=True)
class ApplyReport:
    results: list[AssetResult] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0  # in the write path: the gallery's checks, stores and commits

    def of(self, outcome: Outcome) -> list[AssetResult]:
        return [r for r in self.results if r.outcome is outcome]

    @property
    def ok(self) -> bool:
        return all(r.outcome is Outcome.APPLIED for r in self.results)


# Called once per committed batch with its assets' results, in order.
Progress = Callable[[list[tuple[AssetPlan, AssetResult]]], None]


class _Interrupt:
    """Ctrl-C during apply is noted and acted on between batches, so the report is exact."""

    requested = False

    @contextmanager
    def deferred(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum: int, frame: object) -> None:
            self.requested = True

        previous = signal.signal(signal.SIGINT, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


interrupt = _Interrupt()


def apply_plan(
    plan: Plan, gallery: Gallery, *, message: str = "", progress: Progress | None = None
) -> ApplyReport:
    """Write each changed asset atomically, in asset-id order; never stop at one failure."""
    if plan.has_errors:
        raise GallerySyncError("the plan has errors; fix them and plan again")
    report = ApplyReport()
    covers = _read_covers(plan)
    plan_hash = plan.digest()
    changed = plan.changed
    interrupt.requested = False
    started = time.perf_counter()
    requests = [
        WriteRequest(
            account=plan.publisher,
            asset_id=asset.id,
            expected_revision=asset.revision,
            operations=asset.operations,
            accepted_agreements=frozenset(plan.accepted_agreements),
            plan_hash=plan_hash,
            message=message,
            covers={sha: covers[sha] for sha in _covers_of(asset) if sha in covers},
        )
        for asset in changed
    ]
    batches = gallery.write_assets(requests)
    try:
        # Ctrl-C is noted, not raised: the batch in flight commits and is reported, then the
        # run stops, so what the report calls applied is exactly what the gallery holds.
        with interrupt.deferred():
            while not interrupt.requested:
                outcomes = next(batches, None)
                if outcomes is None:
                    break
                done = len(report.results)
                for asset, outcome in zip(changed[done:], outcomes, strict=False):
                    if isinstance(outcome, GalleryRefusal):
                        result = AssetResult(asset.id, Outcome.FAILED, tuple(outcome.diagnostics))
                    else:
                        result = AssetResult(asset.id, Outcome.APPLIED, revision=outcome)
                    report.results.append(result)
                if progress:
                    progress(list(zip(changed[done:], report.results[done:], strict=False)))
            report.interrupted = interrupt.requested
    finally:
        # Interrupted: what was not reached is reported as not tried.
        report.results += [
            AssetResult(a.id, Outcome.NOT_TRIED) for a in changed[len(report.results) :]
        ]
        report.seconds = time.perf_counter() - started
    return report


def _covers_of(asset: AssetPlan) -> set[str]:
    shas = set()
    for op in asset.operations:
        if isinstance(op.value, dict) and isinstance(op.value.get("cover"), str):
            shas.add(op.value["cover"])
    return shas


def _read_covers(plan: Plan) -> dict[str, bytes]:
    wanted = set().union(*(_covers_of(a) for a in plan.changed)) if plan.changed else set()
    out = {}
    for sha in wanted:
        path = plan.covers.get(sha)
        if path is None:
            continue
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise GallerySyncError(f"cannot read cover image {path}: {exc.strerror}") from exc
        if hashlib.sha256(data).hexdigest() != sha:
            raise GallerySyncError(
                f"cover image {path} changed since the plan was made; plan again"
            )
        out[sha] = data
    return out
