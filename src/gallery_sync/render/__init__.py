"""Renderers for plans and diagnostics: text, markdown, json, github — chosen from one table."""

from __future__ import annotations

from collections.abc import Callable

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.plan import Plan
from gallery_sync.render import github, json_, markdown, text

PlanRenderer = Callable[[Plan], str]
DiagnosticsRenderer = Callable[[list[Diagnostic]], str]

PLAN_RENDERERS: dict[str, PlanRenderer] = {
    "text": text.render_plan,
    "markdown": markdown.render_plan,
    "json": json_.render_plan,
    "github": github.render_plan,
}

DIAGNOSTICS_RENDERERS: dict[str, DiagnosticsRenderer] = {
    "text": text.render_diagnostics,
    "json": json_.render_diagnostics,
    "github": github.render_diagnostics,
}
