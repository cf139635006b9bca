"""Plan and apply as library functions: what the CLI calls, and a server or reconciler can too.

No process-wide state here (no signal handlers, no GC switches, no terminal): callers bring
those, as the CLI brings its SIGINT handler as `should_stop`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from gallery_sync.apply import ApplyReport, Progress, apply_plan
from gallery_sync.errors import UsageError
from gallery_sync.plan import Action, Desired, Plan, build_plan, new_applications

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from gallery_sync.config import Config
    from gallery_sync.gallery import Gallery
    from gallery_sync.plan import AssetPlan

__all__ = ["desired_state", "make_plan", "run_apply"]


def desired_state(config: Config) -> Desired:
    """The plain desired state of a loaded (valid) config."""
    return Desired(
        publisher=config.publisher or "",
        assets=config.assets,
        accepted_agreements=config.accepted_agreements,
        place=config.place,
        locate=config.locate,
        publisher_place=lambda: config.publisher_place,
        digest=config.digest(),
        covers=config.covers,
    )


def make_plan(
    desired: Desired,
    gallery: Gallery,
    *,
    prune: bool = False,
    targets: Collection[str] = (),
) -> Plan:
    """Read what the plan needs of the gallery (the caller's state, the applications its new
    versions name) and plan. UsageError for a target that is nowhere."""
    # The desired assets go along: one the gallery holds in that very state (its kept state
    # digest is theirs) is not read, a no-change plan reads only digests.
    state = gallery.read_state(set(desired.assets) | set(targets), same_as=desired.assets)
    unknown = sorted(set(targets) - set(desired.assets) - set(state.assets))
    if unknown:
        raise UsageError(f"--target {', '.join(unknown)}: no such asset in the config or gallery")
    plan = build_plan(
        desired,
        state,
        gallery.catalog(new_applications(desired.assets, state)),
        gallery=gallery.url,
        account=gallery.account(),
        prune=prune,
        targets=frozenset(targets),
    )
    # Cover files by absolute path: a saved plan applied from another directory finds them.
    covers = {sha: os.path.abspath(path) for sha, path in plan.covers.items()}
    return replace(plan, covers=covers, assets=with_subscribers(plan, gallery))


def with_subscribers(plan: Plan, gallery: Gallery) -> tuple[AssetPlan, ...]:
    """The plan's assets, each discontinue with its effect on subscribers (how many keep
    access, until when): asked of the gallery for those assets only."""
    return tuple(
        replace(a, subscribers=gallery.subscribers(a.id))
        if a.action is Action.DISCONTINUE and a.operations and not a.refused
        else a
        for a in plan.assets
    )


def run_apply(
    plan: Plan,
    gallery: Gallery,
    *,
    message: str = "",
    should_stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """Carry out a plan (checked, confirmed by the caller) against the gallery."""
    return apply_plan(plan, gallery, message=message, progress=progress, should_stop=should_stop)
