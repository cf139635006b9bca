"""Runs a Plan against a Gallery: each asset atomic, committed in batches; one asset's failure
stops that asset only."""

from __future__ import annotations

import enum
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.errors import GalleryRefusal, GallerySyncError
from gallery_sync.files import FileRefused, read_regular
from gallery_sync.gallery import Gallery, WriteRequest
from gallery_sync.model import Operation
from gallery_sync.plan import AssetPlan, NewOperations, Plan

COVER_LIMIT = 5 << 20  # SPEC section 1: a cover image is at most 5 MiB


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

    def to_json(self) -> dict[str, Any]:
        """The whole report, every asset (`apply --format json`)."""
        return {
            "ok": self.ok,
            "interrupted": self.interrupted,
            "summary": {o.value: len(self.of(o)) for o in Outcome},
            "results": [
                {
                    "id": r.id,
                    "outcome": r.outcome.value,
                    "revision": r.revision,
                    "diagnostics": [d.to_json() for d in r.diagnostics],
                }
                for r in self.results
            ],
        }


# Called once per committed batch with its assets' results, in order.
Progress = Callable[[list[tuple[AssetPlan, AssetResult]]], None]


def apply_plan(
    plan: Plan,
    gallery: Gallery,
    *,
    message: str = "",
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ApplyReport:
    """Write each changed asset atomically, in asset-id order; never stop at one failure.

    `should_stop` is asked after each committed batch (the CLI answers from its SIGINT and
    SIGTERM handlers): once it says yes, the run stops there and what was not reached is
    reported not tried, so that what the report calls applied is exactly what the gallery holds.
    """
    if plan.has_errors:
        raise GallerySyncError("the plan has errors; fix them and plan again")
    report = ApplyReport()
    changed = plan.changed
    wanted: set[str] = set()
    for asset in changed:  # not set().union(*...): 30,000 empty sets at once are 6 MiB
        wanted |= _covers_of_asset(asset)
    covers = _read_covers(plan, wanted)
    plan_hash = plan.digest()
    stop = should_stop or (lambda: False)
    started = time.perf_counter()
    accepted = frozenset(plan.accepted_agreements)  # one set for every request: one rules context

    def request(index: int) -> WriteRequest:
        asset = changed[index]
        # Its operations made once: a new asset's create value is built when asked for.
        ops = tuple(asset.operations)
        mine = {sha: covers[sha] for sha in _covers_of_asset(asset) if sha in covers}
        return WriteRequest(asset.id, asset.revision, ops, accepted, plan_hash, message, mine)

    batches = gallery.write_assets(_Requests(request, range(len(changed))))
    stopping = False
    try:
        while True:
            # Once a stop is asked for, the gallery is told so (send(True)): it starts no new
            # batch but still yields those already sent (a served gallery writes several at
            # once), so that what the report calls applied is what the gallery holds.
            try:
                outcomes = batches.send(True) if stopping else next(batches)
            except StopIteration:
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
            stopping = stopping or stop()
        report.interrupted = len(report.results) < len(changed)
    finally:
        # Interrupted: what was not reached is reported as not tried.
        report.results += [
            AssetResult(a.id, Outcome.NOT_TRIED) for a in changed[len(report.results) :]
        ]
        report.seconds = time.perf_counter() - started
    return report


# Requests kept once made: the batch being written and the next one being gathered.
KEPT_REQUESTS = 1024


class _Requests(Sequence[WriteRequest]):
    """The write requests of a plan's changed assets, each made when the gallery reaches it,
    and let go once KEPT_REQUESTS later ones were made: the create values of 30,000 new assets
    held at once were a third of apply's peak memory. A slice is a view sharing what is made,
    so that a batch gathered and then written makes each request once."""

    __slots__ = ("_indices", "_lock", "_made", "_make")

    def __init__(
        self,
        make: Callable[[int], WriteRequest],
        indices: range,
        made: dict[int, WriteRequest] | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self._make, self._indices = make, indices
        self._made = {} if made is None else made
        # A served gallery gathers batches in several threads at once.
        self._lock = threading.Lock() if lock is None else lock

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, index: int) -> WriteRequest: ...

    @overload
    def __getitem__(self, index: slice) -> _Requests: ...

    def __getitem__(self, index: int | slice) -> WriteRequest | _Requests:
        if isinstance(index, slice):
            return _Requests(self._make, self._indices[index], self._made, self._lock)
        at = self._indices[index]
        made = self._made.get(at)
        if made is None:
            made = self._make(at)
            with self._lock:
                self._made[at] = made
                while len(self._made) > KEPT_REQUESTS:
                    del self._made[next(iter(self._made))]  # the first made
        return made

    def __iter__(self) -> Iterator[WriteRequest]:
        for index in range(len(self._indices)):
            yield self[index]


def _covers_of_asset(asset: AssetPlan) -> set[str]:
    """_covers_of its operations, a new asset's without building its create value."""
    ops = asset.operations
    if isinstance(ops, NewOperations):
        cover = ops.asset.cover
        return {cover} if isinstance(cover, str) else set()
    return _covers_of(ops)


def _covers_of(operations: Sequence[Operation]) -> set[str]:
    shas = set()
    for op in operations:
        value = op.value
        if isinstance(value, dict):
            cover = value.get("cover")
            if isinstance(cover, str):
                shas.add(cover)
    return shas


def _read_covers(plan: Plan, wanted: set[str]) -> dict[str, bytes]:
    """Every cover the writes upload (`wanted`), read (bounded, regular files only) and checked
    against the sha256 the plan names, before anything is written."""
    out = {}
    for sha in sorted(wanted):
        path = plan.covers.get(sha)
        if path is None:
            continue
        try:
            data = read_regular(path, limit=COVER_LIMIT, what="cover image")
        except FileRefused as exc:
            code = "file-not-found" if exc.reason == "missing" else "cover-invalid"
            raise GalleryRefusal([Diagnostic.of(code, f"{exc}; nothing was applied")]) from None
        if hashlib.sha256(data).hexdigest() != sha:
            raise GalleryRefusal(
                [
                    Diagnostic.of(
                        "cover-invalid",
                        f"cover image {path} changed since the plan was made; nothing was "
                        "applied. Plan again",
                    )
                ]
            )
        out[sha] = data
    return out
