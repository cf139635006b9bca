"""JSON output: the stable shapes of SPEC section 4, for scripts and CI."""

from __future__ import annotations

import json

from gallery_sync.diagnostics import Diagnostic, has_errors
from gallery_sync.plan import Plan


def render_plan(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n"


def render_diagnostics(diagnostics: list[Diagnostic]) -> str:
    body = {"valid": not has_errors(diagnostics), "diagnostics": [d.to_json() for d in diagnostics]}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
