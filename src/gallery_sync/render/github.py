"""GitHub workflow commands: `::error file=F,line=L,col=C,title=CODE::message` lines."""

from __future__ import annotations

from gallery_sync.diagnostics import Diagnostic
from gallery_sync.plan import Plan
from gallery_sync.render.text import summary_line


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(d: Diagnostic) -> str:
    props = []
    if d.place is not None:
        props += [
            f"file={escape_property(d.place.file)}",
            f"line={d.place.line}",
            f"col={d.place.column}",
        ]
    props.append(f"title={escape_property(d.code)}")
    subject = ""
    if d.place is None and d.asset:
        subject = f"asset {d.asset}: "
    return f"::{d.severity.value} {','.join(props)}::{escape_data(subject + d.message)}"


def render_diagnostics(diagnostics: list[Diagnostic]) -> str:
    return "".join(command(d) + "\n" for d in diagnostics)


def render_plan(plan: Plan) -> str:
    lines = [command(d) for d in plan.diagnostics]
    lines.append(f"::notice title=gallery-sync plan::{escape_data(summary_line(plan))}")
    return "\n".join(lines) + "\n"
