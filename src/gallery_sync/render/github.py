"""GitHub workflow commands: `::error file=F,line=L,col=C,title=CODE::message` lines."""

from __future__ import annotations

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.plan import Plan
from gallery_sync.render.escape import workflow_data, workflow_property
from gallery_sync.render.values import summary


def command(d: Diagnostic) -> str:
    props = []
    if d.place is not None:
        props += [
            f"file={workflow_property(d.place.file)}",
            f"line={d.place.line}",
            f"col={d.place.column}",
        ]
    props.append(f"title={workflow_property(d.code)}")
    subject = ""
    if d.place is None and d.asset:
        version = f" version {d.version}" if d.version else ""
        subject = f"asset {d.asset}{version}: "
    return f"::{d.severity.value} {','.join(props)}::{workflow_data(subject + d.message)}"


def render_diagnostics(diagnostics: list[Diagnostic]) -> str:
    return "".join(command(d) + "\n" for d in diagnostics)


def render_plan(plan: Plan) -> str:
    """The problems, then one notice: the summary, and the plan hash a reviewer can pin."""
    lines = [command(d) for d in plan.diagnostics]
    notice = f"Plan: {summary(plan)}."
    if plan.has_changes and not plan.has_errors:
        notice += f" Plan hash: {plan.digest()}"
    lines.append(f"::notice title=gallery-sync plan::{workflow_data(notice)}")
    return "\n".join(lines) + "\n"
