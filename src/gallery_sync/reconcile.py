"""Pull mode (SPEC section 9): reconcile a gallery with a git branch, in rounds.

`Reconciler.reconcile_once` is the whole decision and action of a round, idempotent and safe
to rerun: fetch the branch; a new commit is planned and applied (`git <sha>`) unless its plan
has errors; the commit applied last is planned again to find drift, reported or reverted.
It uses the same functions as the CLI (`desired_state`, `make_plan`, `run_apply`). `run_loop`
only schedules rounds, backs off after a failure (exponential, full jitter) and stops when
asked. What a round found is kept in `ReconcileStatus` (the JSON status and the metrics) and
written as JSON log lines.

The last applied commit is kept in the gallery's audit log, not in a file: the newest entry
whose message is `git <sha>`, written by this publisher. It survives a lost cache and a move
to another machine, and it is what `apply` from a clone writes too.
"""

from __future__ import annotations

import enum
import hashlib
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

import orjson

from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.errors import GalleryRefusal, GallerySyncError, GalleryUnavailable, StoreError
from gallery_sync.gitmirror import GitError, GitMirror

if TYPE_CHECKING:
    from gallery_sync.apply import ApplyReport
    from gallery_sync.gallery import Gallery
    from gallery_sync.plan import Desired, Plan

APPLIED_MESSAGE = re.compile(r"^git ([0-9a-f]{40})$")
REVERT_SUFFIX = " (drift reverted)"
UNREVERTABLE = "unrevertable"  # recorded for drift the rules refuse to revert, on no one field
DRIFT_KINDS = ("drift", "in-step")  # audit entries that record drift, not a change


class DriftMode(str, enum.Enum):
    REPORT = "report"
    REVERT = "revert"


class Outcome(str, enum.Enum):
    """How a round ended; the first four are not failures."""

    SYNCED = "synced"  # the gallery is as git says: nothing to do
    APPLIED = "applied"  # a commit (or its rest) was applied in full
    DRIFTED = "drifted"  # drift found and reported (report), or some of it left (revert)
    REVERTED = "reverted"  # drift found and reverted in full
    REFUSED = "refused"  # the commit's config or plan has errors: nothing applied
    FAILED = "failed"  # git, the gallery or a write failed: retried
    STOPPED = "stopped"  # asked to stop during an apply: the batch in flight was kept

    @property
    def ok(self) -> bool:
        return self in (Outcome.SYNCED, Outcome.APPLIED, Outcome.DRIFTED, Outcome.REVERTED)


@dataclass(frozen=True, slots=True)
class Settings:
    repo: str
    branch: str = "main"
    path: str = "gallery.yaml"
    gallery: str | None = None
    interval: float = 60.0
    drift: DriftMode = DriftMode.REPORT
    cache: Path | None = None
    max_backoff: float = 300.0


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Redactor:
    """Removes secrets (URL passwords, the gallery token) from what is logged or shown."""

    def __init__(self, *urls: str | None, secrets: tuple[str, ...] = ()) -> None:
        found = [s for s in secrets if s]
        for url in urls:
            if url and "://" in url:
                try:
                    password = urlsplit(url).password
                except ValueError:
                    password = None
                if password:
                    found.append(password)
        self.secrets = sorted(set(found), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class JsonLog:
    """One JSON object per line (time, level, event, commit, ...), secrets removed."""

    def __init__(self, stream: TextIO, redact: Redactor) -> None:
        self.stream = stream
        self.redact = redact
        self.lock = threading.Lock()

    def __call__(self, level: str, event: str, **fields: Any) -> None:
        record = {"time": now_iso(), "level": level, "event": event, **fields}
        line = self.redact(orjson.dumps(record, default=str).decode())
        with self.lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or full stderr never stops the loop


@dataclass(slots=True)
class ReconcileStatus:
    """What the loop knows: the JSON status, and the source of the metrics."""

    repo: str
    branch: str
    path: str
    gallery: str
    drift_mode: str
    interval: float
    state: str = "starting"
    rounds: int = 0
    last_round: str | None = None
    last_round_seconds: float | None = None
    last_fetch: str | None = None
    last_fetch_unix: float | None = None
    fetched_commit: str | None = None
    last_applied: str | None = None
    last_applied_time: str | None = None
    pending: dict[str, Any] | None = None  # a commit refused or applied in part
    history_rewritten: dict[str, Any] | None = None
    drift: list[dict[str, Any]] = field(default_factory=list)
    drifted_assets: int = 0
    unmanaged_assets: list[str] = field(default_factory=list)
    consecutive_failures: int = 0
    last_error: dict[str, Any] | None = None
    next_round_in: float | None = None
    applies: int = 0
    apply_failures: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # stage -> count
    outcomes: dict[str, int] = field(default_factory=dict)  # outcome -> count
    durations: list[float] = field(default_factory=list)  # of rounds since the last scrape
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "repo": self.repo,
                "branch": self.branch,
                "path": self.path,
                "gallery": self.gallery,
                "drift_mode": self.drift_mode,
                "interval": self.interval,
                "state": self.state,
                "rounds": self.rounds,
                "last_round": self.last_round,
                "last_round_seconds": self.last_round_seconds,
                "last_fetch": self.last_fetch,
                "fetched_commit": self.fetched_commit,
                "last_applied": (
                    {"commit": self.last_applied, "time": self.last_applied_time}
                    if self.last_applied
                    else None
                ),
                "pending": self.pending,
                "history_rewritten": self.history_rewritten,
                "drifted_assets": self.drifted_assets,
                "drift": list(self.drift),
                "unmanaged_assets": list(self.unmanaged_assets),
                "consecutive_failures": self.consecutive_failures,
                "last_error": self.last_error,
                "next_round_in": self.next_round_in,
                "applies": self.applies,
                "apply_failures": self.apply_failures,
                "failures": dict(self.failures),
            }


@dataclass(slots=True)
class Loaded:
    """A commit's config, read once (a commit never changes): its desired state or its
    problems, and the directory its files (covers) are read from at apply."""

    sha: str
    desired: Desired | None
    diagnostics: list[Diagnostic]
    workdir: Path
    digest: str  # of the files read, by path inside the repository: equal = same config


@dataclass(frozen=True, slots=True)
class Drift:
    """One drifted field of one asset: what the gallery holds, what git says."""

    asset: str
    field: str
    gallery: Any
    git: Any
    revertable: bool
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {
            "asset": self.asset,
            "field": self.field,
            "gallery": self.gallery,
            "git": self.git,
            "revertable": self.revertable,
        }
        if self.why:
            out["why"] = self.why
        return out


def find_drift(plan: Plan) -> tuple[list[Drift], list[str]]:
    """Every field the gallery holds otherwise than git (per asset, per field), and the
    assets of the publisher no file declares. A field of an asset whose transition the rules
    refuse (a version published outside git, visibility widened outside git) cannot be
    reverted: it says why."""
    from gallery_sync.plan import Action

    why: dict[str, list[str]] = {}
    for d in plan.diagnostics:
        if d.severity is Severity.ERROR and d.asset is not None:
            why.setdefault(d.asset, []).append(f"{d.code}: {d.message}")
    drift: list[Drift] = []
    unmanaged: list[str] = []
    for asset in plan.assets:
        if asset.action is Action.UNMANAGED:
            unmanaged.append(asset.id)
            continue
        for planned in asset.changes:
            change = planned.change
            drift.append(
                Drift(
                    asset.id,
                    change.field,
                    change.before,
                    change.after,
                    revertable=not asset.refused,
                    why="; ".join(why.get(asset.id, [])) if asset.refused else "",
                )
            )
        if asset.refused and not asset.changes:
            drift.append(Drift(asset.id, "", None, None, False, "; ".join(why.get(asset.id, []))))
    return drift, unmanaged


class RoundFailure(Exception):
    """A round could not finish: where (git, gallery, apply, internal) and why."""

    def __init__(self, stage: str, message: str, code: str = "") -> None:
        super().__init__(message)
        self.stage = stage
        self.code = code or stage


@dataclass(frozen=True, slots=True)
class Round:
    outcome: Outcome
    commit: str | None = None
    seconds: float = 0.0


class Reconciler:
    """The reconcile function and the state it keeps between rounds (all of which can be
    rebuilt from git and the gallery: a restart loses nothing)."""

    def __init__(
        self,
        settings: Settings,
        *,
        log: JsonLog,
        mirror: GitMirror | None = None,
        open_gallery: Callable[[str], Gallery] | None = None,
        redact: Redactor | None = None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.redact = redact or Redactor(settings.repo, settings.gallery)
        self.mirror = mirror or GitMirror(settings.repo, settings.branch, cache=settings.cache)
        self._open = open_gallery or self._open_default
        self.status = ReconcileStatus(
            repo=self.redact(settings.repo),
            branch=settings.branch,
            path=settings.path,
            gallery=self.redact(settings.gallery or "(embedded)"),
            drift_mode=settings.drift.value,
            interval=settings.interval,
        )
        self.tip: str | None = None  # the branch's commit as last fetched
        self.applied: str | None = None  # the commit last applied in full
        self.audited: str | None = None  # read from the audit log at start: applied, maybe in part
        self.audited_as = ""  # the commit the log names, when `audited` declares the same
        self._audit_read = False
        self._loaded: dict[str, Loaded] = {}
        self._drift_seen: object = None  # what was last logged as drift (log once per change)
        self._recorded: dict[str, tuple[str, ...]] = {}  # asset -> drifted fields, as recorded

    # --- the gallery ---------------------------------------------------------------------

    def _open_default(self, publisher: str) -> Gallery:
        from gallery_sync.gallery import Principal, default_url, open_gallery

        url = self.settings.gallery or default_url(Path.cwd().resolve())
        # Never create: a gallery that has gone away is an outage to wait for, not a new
        # empty gallery to publish everything into.
        return open_gallery(url, principal=Principal.embedded(publisher))

    @contextmanager
    def _gallery(self, publisher: str) -> Iterator[Gallery]:
        gallery = self._open(publisher)
        try:
            yield gallery
        finally:
            # Closing a failed connection must not hide why it failed.
            with suppress(Exception):
                gallery.close()

    # --- git -----------------------------------------------------------------------------

    def _fetch(self) -> str:
        previous = self.tip
        try:
            sha = self.mirror.fetch()
        finally:
            stamp = now_iso()
            with self.status.lock:
                self.status.last_fetch = stamp
                self.status.last_fetch_unix = time.time()
        if sha != previous:
            self.status.fetched_commit = sha
            self.log("info", "fetched", commit=sha, branch=self.settings.branch)
            if previous is not None and not self.mirror.is_ancestor(previous, sha):
                self._rewritten(previous, sha)
        self.tip = sha
        return sha

    def _rewritten(self, previous: str, sha: str) -> None:
        self.status.history_rewritten = {"previous": previous, "commit": sha, "time": now_iso()}
        self.log(
            "warning",
            "history-rewritten",
            commit=sha,
            previous=previous,
            message=f"branch {self.settings.branch!r} was rewritten (force-pushed): "
            f"{previous[:12]} is not in the history of {sha[:12]}; planning {sha[:12]} as it is",
        )

    def _load(self, sha: str) -> Loaded:
        """The commit's config, parsed once per commit (the idle loop never re-reads it)."""
        loaded = self._loaded.get(sha)
        if loaded is not None:
            return loaded
        from gallery_sync.config import load_config
        from gallery_sync.engine import desired_state

        workdir = Path(tempfile.mkdtemp(prefix=f"gallery-sync-{sha[:12]}-"))
        try:
            self.mirror.export(sha, workdir)
            config = load_config([str(workdir / self.settings.path)])
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        desired = desired_state(config) if config.valid else None
        inputs = sorted((_inside(name, workdir), sha256) for name, sha256 in config.inputs.items())
        digest = hashlib.sha256(orjson.dumps(inputs)).hexdigest()
        loaded = Loaded(sha, desired, list(config.diagnostics), workdir, digest)
        self._loaded[sha] = loaded
        self._forget(keep={sha, self.applied or "", self.tip or ""})
        return loaded

    def _forget(self, keep: set[str]) -> None:
        for sha in [s for s in self._loaded if s not in keep]:
            shutil.rmtree(self._loaded.pop(sha).workdir, ignore_errors=True)

    def close(self) -> None:
        self._forget(keep=set())

    # --- the round -----------------------------------------------------------------------

    def reconcile_once(self, should_stop: Callable[[], bool] = lambda: False) -> Round:
        """One round; never raises for a failure of git, the gallery or the config."""
        started = time.perf_counter()
        commit = self.tip
        try:
            commit = self._fetch()
            outcome = self._round(commit, should_stop)
        except RoundFailure as failure:
            outcome = self._failed(failure, commit)
        except GitError as exc:
            outcome = self._failed(RoundFailure("git", str(exc), exc.code), commit)
        except (GalleryUnavailable, StoreError) as exc:
            outcome = self._failed(RoundFailure("gallery", str(exc), exc.code), commit)
        except GalleryRefusal as exc:  # e.g. a cover changed under the plan: refused whole
            outcome = self._failed(RoundFailure("apply", str(exc), exc.code), commit)
        except GallerySyncError as exc:
            outcome = self._failed(RoundFailure("gallery", str(exc), exc.code), commit)
        except Exception as exc:  # a bug: said in one line, and the loop goes on
            outcome = self._failed(
                RoundFailure("internal", f"{type(exc).__name__}: {exc}", "internal"), commit
            )
        seconds = time.perf_counter() - started
        with self.status.lock:
            s = self.status
            s.rounds += 1
            s.last_round = now_iso()
            s.last_round_seconds = round(seconds, 4)
            s.outcomes[outcome.value] = s.outcomes.get(outcome.value, 0) + 1
            if len(s.durations) < 10_000:  # bounded even if nobody scrapes
                s.durations.append(seconds)
            if outcome.ok:
                s.consecutive_failures = 0
                s.last_error = None
        return Round(outcome, commit, seconds)

    def _failed(self, failure: RoundFailure, commit: str | None) -> Outcome:
        message = self.redact(str(failure))
        with self.status.lock:
            s = self.status
            s.state = "failing"
            s.consecutive_failures += 1
            s.failures[failure.stage] = s.failures.get(failure.stage, 0) + 1
            s.last_error = {
                "stage": failure.stage,
                "code": failure.code,
                "message": message,
                "commit": commit,
                "time": now_iso(),
            }
        self.log(
            "error", f"{failure.stage}-failed", commit=commit, code=failure.code, message=message
        )
        return Outcome.FAILED

    def _round(self, commit: str, should_stop: Callable[[], bool]) -> Outcome:
        from gallery_sync.engine import make_plan

        loaded = self._load(commit)
        if loaded.desired is None:
            return self._refuse(commit, loaded.diagnostics, "the configuration is invalid")
        desired = loaded.desired
        with self._gallery(desired.publisher) as gallery:
            if not self._audit_read:
                self._read_audit(gallery, desired.publisher, loaded)
            plan = make_plan(desired, gallery)
            if commit == self.applied:
                return self._drift(commit, desired, plan, gallery, should_stop)
            if commit == self.audited:
                return self._resume(commit, plan, desired, gallery, should_stop)
            if plan.has_errors:
                return self._refuse(commit, list(plan.diagnostics), "the plan has errors")
            outcome = self._apply(commit, plan, gallery, should_stop)
            return self._settle(commit, desired, gallery, should_stop, outcome)

    def _settle(
        self,
        commit: str,
        desired: Desired,
        gallery: Gallery,
        should_stop: Callable[[], bool],
        outcome: Outcome,
    ) -> Outcome:
        """After a commit is applied in full: plan again, so that the status says what the
        commit's plan did not change (an unmanaged asset, drift on another asset)."""
        from gallery_sync.engine import make_plan

        if outcome is not Outcome.APPLIED and outcome is not Outcome.SYNCED:
            return outcome
        after = self._drift(commit, desired, make_plan(desired, gallery), gallery, should_stop)
        return outcome if after is Outcome.SYNCED else after

    def _resume(
        self,
        commit: str,
        plan: Plan,
        desired: Desired,
        gallery: Gallery,
        should_stop: Callable[[], bool],
    ) -> Outcome:
        """The audit log says this commit was applied before this process started, maybe in
        part (a crash, a kill): finish what it did not reach; what was changed since it ran
        is drift."""

        differing = {a.id for a in plan.assets if a.changes or a.refused}
        named = self.audited_as or commit
        unfinished = _unfinished(gallery, named, differing) if differing else set()
        global_errors = any(d.is_error and d.asset is None for d in plan.diagnostics)
        if global_errors or any(a.refused for a in plan.assets if a.id in unfinished):
            return self._refuse(commit, list(plan.diagnostics), "the plan has errors")
        rest = tuple(a for a in plan.changed if a.id in unfinished)
        if not rest:
            self._mark_applied(commit, wrote=False)
            return self._drift(commit, desired, plan, gallery, should_stop)
        self.log("info", "resume", commit=commit, assets=len(rest))
        part = replace(
            plan, assets=rest, diagnostics=tuple(d for d in plan.diagnostics if not d.is_error)
        )
        outcome = self._apply(commit, part, gallery, should_stop)
        return self._settle(commit, desired, gallery, should_stop, outcome)

    def _read_audit(self, gallery: Gallery, publisher: str, loaded: Loaded) -> None:
        """The commit this publisher last applied, from the audit log (newest `git <sha>`).

        A commit whose apply wrote nothing leaves no entry: a later commit that declares
        the same files (a README change) stands for the one the log names."""
        commit = loaded.sha
        for entry in gallery.history():
            if entry.account and entry.account != publisher:
                continue
            match = APPLIED_MESSAGE.match(entry.message)
            if match:
                self.audited = match.group(1)
                break
        self._audit_read = True
        if self.audited is None:
            self.log("info", "audit-read", commit=commit, last_applied=None)
            return
        self.log("info", "audit-read", commit=commit, last_applied=self.audited)
        with self.status.lock:
            self.status.last_applied = self.audited
        if (
            self.audited != commit
            and self.mirror.has(self.audited)
            and not self.mirror.is_ancestor(self.audited, commit)
        ):
            self._rewritten(self.audited, commit)
        if (
            self.audited != commit
            and self.mirror.has(self.audited)
            and self._load(self.audited).digest == loaded.digest
        ):
            self.log("info", "same-config", commit=commit, last_applied=self.audited)
            self.audited_as = self.audited
            self.audited = commit

    def _refuse(self, commit: str, diagnostics: list[Diagnostic], why: str) -> Outcome:
        loaded = self._loaded.get(commit)
        errors = [
            _relative(d, loaded.workdir) if loaded else d
            for d in diagnostics
            if d.severity is Severity.ERROR
        ]
        shown = [d.to_json() for d in errors]
        with self.status.lock:
            self.status.state = "refused"
            self.status.pending = {
                "commit": commit,
                "reason": f"{why}; nothing was applied",
                "diagnostics": shown,
            }
        self.log(
            "error",
            "commit-refused",
            commit=commit,
            message=f"{why}; nothing was applied",
            errors=len(errors),
            diagnostics=shown,
        )
        return Outcome.REFUSED

    def _apply(
        self, commit: str, plan: Plan, gallery: Gallery, should_stop: Callable[[], bool]
    ) -> Outcome:
        if not plan.has_changes:
            self._mark_applied(commit, wrote=False)
            return Outcome.SYNCED
        with self.status.lock:
            self.status.state = "applying"
        self.log("info", "apply-started", commit=commit, assets=len(plan.changed))
        report = self._run_apply(commit, plan, gallery, f"git {commit}", should_stop)
        if report.ok:
            self._mark_applied(commit)
            return Outcome.APPLIED
        return self._apply_failed(commit, report)

    def _run_apply(
        self,
        commit: str,
        plan: Plan,
        gallery: Gallery,
        message: str,
        should_stop: Callable[[], bool],
    ) -> ApplyReport:
        from gallery_sync.apply import Outcome as AssetOutcome
        from gallery_sync.engine import run_apply

        def progress(batch: list[tuple[Any, Any]]) -> None:
            applied = sum(r.outcome is AssetOutcome.APPLIED for _, r in batch)
            self.log("info", "batch-committed", commit=commit, assets=len(batch), applied=applied)

        report = run_apply(
            plan, gallery, message=message, should_stop=should_stop, progress=progress
        )
        self.log(
            "info" if report.ok else "error",
            "apply-finished",
            commit=commit,
            message=message,
            applied=len(report.of(AssetOutcome.APPLIED)),
            failed=len(report.of(AssetOutcome.FAILED)),
            not_tried=len(report.of(AssetOutcome.NOT_TRIED)),
            interrupted=report.interrupted,
            seconds=round(report.seconds, 3),
            diagnostics=[
                d.to_json() for r in report.of(AssetOutcome.FAILED) for d in r.diagnostics
            ],
        )
        return report

    def _apply_failed(self, commit: str, report: ApplyReport) -> Outcome:
        from gallery_sync.apply import Outcome as AssetOutcome

        failed = report.of(AssetOutcome.FAILED)
        with self.status.lock:
            self.status.apply_failures += 1 if failed or not report.interrupted else 0
            self.status.state = "stopped" if report.interrupted and not failed else "failing"
            self.status.pending = {
                "commit": commit,
                "reason": "applied in part; the next round plans again and applies the rest",
                "applied": len(report.of(AssetOutcome.APPLIED)),
                "failed": [r.id for r in failed],
                "not_tried": len(report.of(AssetOutcome.NOT_TRIED)),
                "diagnostics": [d.to_json() for r in failed for d in r.diagnostics],
            }
        if report.interrupted and not failed:
            return Outcome.STOPPED
        raise RoundFailure(
            "apply",
            f"{len(failed)} of {len(report.results)} assets of {commit[:12]} failed; "
            "the next round plans again",
            failed[0].diagnostics[0].code if failed and failed[0].diagnostics else "gallery-error",
        )

    def _mark_applied(self, commit: str, *, wrote: bool = True) -> None:
        """The commit is applied in full (`wrote`: by this round; else nothing was left)."""
        self.applied = commit
        self.audited = None
        with self.status.lock:
            s = self.status
            s.pending = None
            if s.last_applied != commit or wrote:
                s.last_applied_time = now_iso()
            s.last_applied = commit
            s.applies += wrote
        self.log("info", "applied" if wrote else "in-sync", commit=commit)
        self._forget(keep={commit})

    def _drift(
        self,
        commit: str,
        desired: Desired,
        plan: Plan,
        gallery: Gallery,
        should_stop: Callable[[], bool],
    ) -> Outcome:
        """The commit is applied: whatever its plan changes now is drift."""
        if plan.has_errors and any(d.asset is None for d in plan.diagnostics if d.is_error):
            # Not about one asset (e.g. publisher-mismatch): nothing can be said per asset.
            return self._refuse(commit, list(plan.diagnostics), "the plan has errors")
        drift, unmanaged = find_drift(plan)
        self._show_drift(commit, drift, unmanaged)
        if not drift or self.settings.drift is DriftMode.REPORT:
            self._set_state("drifted" if drift else "synced")
        self._record_drift(gallery, commit, plan, drift)
        if not drift:
            return Outcome.SYNCED
        if self.settings.drift is DriftMode.REPORT:
            return Outcome.DRIFTED
        revertable = [a for a in plan.changed]
        if revertable:
            # Only the assets the rules let go back; the refused ones stay reported.
            back = replace(
                plan,
                assets=tuple(revertable),
                diagnostics=tuple(d for d in plan.diagnostics if not d.is_error),
            )
            message = f"git {commit}{REVERT_SUFFIX}"
            report = self._run_apply(commit, back, gallery, message, should_stop)
            if not report.ok:
                return self._apply_failed(commit, report)
            from gallery_sync.engine import make_plan

            plan = make_plan(desired, gallery)
            drift, unmanaged = find_drift(plan)
            self.log("info", "drift-reverted", commit=commit, assets=len(revertable))
            self._show_drift(commit, drift, unmanaged)
        self._set_state("drifted" if drift else "synced")
        if revertable:
            self._record_drift(gallery, commit, plan, drift)  # what was reverted: in step
        return Outcome.DRIFTED if drift else Outcome.REVERTED

    def _show_drift(self, commit: str, drift: list[Drift], unmanaged: list[str]) -> None:
        assets = sorted({d.asset for d in drift})
        with self.status.lock:
            self.status.drift = [d.to_json() for d in drift]
            self.status.drifted_assets = len(assets)
            self.status.unmanaged_assets = unmanaged
        seen = (tuple(drift), tuple(unmanaged))
        if seen == self._drift_seen:
            return  # said once per change, not once per round
        self._drift_seen = seen
        for d in drift:
            self.log(
                "warning",
                "drift" if d.revertable else "drift-unrevertable",
                commit=commit,
                asset=d.asset,
                field=d.field,
                gallery=d.gallery,
                git=d.git,
                **({"why": d.why} if d.why else {}),
            )
        for asset in unmanaged:
            self.log("warning", "unmanaged-asset", commit=commit, asset=asset)

    def _record_drift(self, gallery: Gallery, commit: str, plan: Plan, drift: list[Drift]) -> None:
        """Record in the gallery what the drift check found on the publisher's assets (its "My
        assets" page shows it): only what changed since this process last recorded, so that
        an idle round sends nothing. The gallery down: the round fails and is retried; a
        refusal is logged, and sent again next round."""
        from gallery_sync.plan import Action

        foreign = {d.asset for d in plan.diagnostics if d.code == "asset-owned-by-other"}
        state: dict[str, tuple[str, ...]] = {
            a.id: ()
            for a in plan.assets
            if a.revision is not None and a.action is not Action.UNMANAGED and a.id not in foreign
        }
        for d in drift:
            if d.asset in state:
                state[d.asset] = tuple(sorted({*state[d.asset], d.field or UNREVERTABLE}))
        changed = {a: f for a, f in state.items() if self._recorded.get(a) != f}
        if not changed:
            return
        try:
            recorded = gallery.report_drift({a: list(f) for a, f in changed.items()}, commit)
        except GalleryRefusal as refusal:
            self.log(
                "error",
                "drift-record-failed",
                commit=commit,
                code=refusal.code,
                message=self.redact(str(refusal)),
            )
            return
        self._recorded.update(changed)
        if recorded:
            self.log("info", "drift-recorded", commit=commit, assets=sorted(recorded))

    def _set_state(self, state: str) -> None:
        with self.status.lock:
            self.status.state = state


def _unfinished(gallery: Gallery, commit: str, changed: set[str]) -> set[str]:
    """Of the assets a commit's plan still changes, those nobody wrote since the commit's
    first write (it never reached them); the others were changed since: drift."""
    entries = gallery.history()
    marks = [e.id for e in entries if e.message == f"git {commit}"]
    if not marks:
        return set(changed)
    first = min(marks)
    touched = {
        e.asset for e in entries if e.id >= first and e.change.get("kind") not in DRIFT_KINDS
    }
    return {a for a in changed if a not in touched}


def _inside(name: str, root: Path) -> str:
    """A file's name inside the repository, not inside the temporary checkout."""
    try:
        return str(Path(name).resolve().relative_to(root.resolve()))
    except ValueError:
        return name


def _relative(d: Diagnostic, root: Path) -> Diagnostic:
    if d.place is None:
        return d
    return replace(d, place=replace(d.place, file=_inside(d.place.file, root)))


# --- the loop ----------------------------------------------------------------------------


def backoff(failures: int, interval: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, interval * 2**failures)]."""
    return rng.uniform(0.0, min(cap, interval * (2 ** min(failures, 30))))


def run_loop(
    reconciler: Reconciler,
    stop: threading.Event,
    *,
    rng: random.Random | None = None,
    on_round: Callable[[Round], None] | None = None,
) -> None:
    """Rounds every interval until `stop` is set; after a failure, the next round comes after
    a jittered exponential backoff. The batch in flight when `stop` is set is finished."""
    settings = reconciler.settings
    rng = rng or random.Random()
    while not stop.is_set():
        result = reconciler.reconcile_once(stop.is_set)
        if on_round is not None:
            on_round(result)
        if stop.is_set():
            break
        failures = reconciler.status.consecutive_failures
        if result.outcome is Outcome.FAILED or result.outcome is Outcome.REFUSED:
            delay = backoff(failures, settings.interval, max(settings.max_backoff, 0.0), rng)
            reconciler.log(
                "info",
                "retry",
                commit=result.commit,
                attempt=failures,
                delay=round(delay, 3),
                outcome=result.outcome.value,
            )
        else:
            delay = max(settings.interval - result.seconds, 0.0)
        with reconciler.status.lock:
            reconciler.status.next_round_in = round(delay, 3)
        stop.wait(delay)
