"""JSON output: the stable shapes of SPEC section 4, for scripts and CI."""

from __future__ import annotations

from gallery_sync.diagnostics import Diagnostic, has_errors
from gallery_sync.plan import Plan
from gallery_sync.render.escape import json_text


def render_plan(plan: Plan) -> str:
    return json_text(plan.to_json())


def render_diagnostics(diagnostics: list[Diagnostic]) -> str:
    body = {"valid": not has_errors(diagnostics), "diagnostics": [d.to_json() for d in diagnostics]}
    return json_text(body)
