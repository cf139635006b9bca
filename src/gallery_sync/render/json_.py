"""JSON output: the stable shapes of SPEC section 4, for scripts and CI."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gallery_sync.diagnostics import Diagnostic, has_errors
from gallery_sync.plan import AssetPlan, Plan
from gallery_sync.render.escape import json_pieces, json_text


def render_plan(plan: Plan) -> str:
    return "".join(plan_pieces(plan))


def plan_pieces(plan: Plan) -> Iterator[str]:
    """`json_text(plan.to_json())` piece by piece, its assets and diagnostics made as the
    encoder reaches them: the CLI writes the pieces as they come. Whole, the plan of 10,000
    new assets was ~100 MB of dicts and 59 MB of text at once (472 MiB peak, 8x the
    json.loads floor)."""
    body = {
        **plan.head(),
        "assets": _Walked(plan.assets, AssetPlan.to_json),
        "diagnostics": _Walked(plan.diagnostics, Diagnostic.to_json),
        "plan_hash": plan.digest(),
    }
    yield from json_pieces(body)


class _Walked(list):  # type: ignore[type-arg]
    """A list that json's encoder (indented: its Python one) walks item by item, each item's
    JSON made as it is reached and let go after. Empty as a list: only the encoder uses it."""

    def __init__(self, items: Sequence[Any], to_json: Callable[[Any], Any]) -> None:
        super().__init__()
        self.items = items
        self.to_json = to_json

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        return map(self.to_json, self.items)


def render_diagnostics(diagnostics: list[Diagnostic]) -> str:
    body = {"valid": not has_errors(diagnostics), "diagnostics": [d.to_json() for d in diagnostics]}
    return json_text(body)
