"""Diagnostic: one problem with a severity, a stable code and a place; and the code table."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


# The stable codes of SPEC section 2 and their default severity. Tests and CI rely on them.
CODES: dict[str, Severity] = {
    "yaml-syntax": Severity.ERROR,
    "duplicate-key": Severity.ERROR,
    "input-too-large": Severity.ERROR,
    "schema": Severity.ERROR,
    "duplicate-asset": Severity.ERROR,
    "duplicate-version": Severity.ERROR,
    "file-not-found": Severity.ERROR,
    "path-outside-root": Severity.ERROR,
    "cover-invalid": Severity.ERROR,
    "unknown-category": Severity.ERROR,
    "agreement-missing": Severity.ERROR,
    "application-not-found": Severity.ERROR,
    "publisher-mismatch": Severity.ERROR,
    "asset-owned-by-other": Severity.ERROR,
    "visibility-narrowing": Severity.ERROR,
    "version-removed": Severity.ERROR,
    "version-source-changed": Severity.ERROR,
    "version-rerelease": Severity.ERROR,
    "version-discontinue-last": Severity.ERROR,
    "new-asset-discontinued": Severity.ERROR,
    "new-version-discontinued": Severity.ERROR,
    "version-not-increasing": Severity.WARNING,
    "unmanaged-asset": Severity.WARNING,
    "stale-plan": Severity.ERROR,
    "conflict": Severity.ERROR,
    "image-policy": Severity.ERROR,
    "plan-invalid": Severity.ERROR,
    # The gallery's store failed on one asset's write (disk full, locked past the timeout, a
    # broken trigger). That asset fails; apply goes on.
    "gallery-error": Severity.ERROR,
    "gallery-unavailable": Severity.ERROR,
    "unauthenticated": Severity.ERROR,
    "not-found": Severity.ERROR,
    "request-invalid": Severity.ERROR,
}


@dataclass(frozen=True, slots=True)
class Place:
    """Where a problem is: a file and a 1-based line and column."""

    file: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found: what (code, message), how bad (severity), where, and about what."""

    code: str
    message: str
    severity: Severity = Severity.ERROR
    place: Place | None = None
    asset: str | None = None
    version: str | None = None

    @classmethod
    def of(
        cls,
        code: str,
        message: str,
        *,
        place: Place | None = None,
        asset: str | None = None,
        version: str | None = None,
        severity: Severity | None = None,
    ) -> Diagnostic:
        if code not in CODES:
            raise ValueError(f"unknown diagnostic code {code!r}")
        return cls(code, message, severity or CODES[code], place, asset, version)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[Any, ...]:
        p = self.place
        return (
            p is None,
            p.file if p else "",
            p.line if p else 0,
            p.column if p else 0,
            self.asset or "",
            self.version or "",
            self.code,
            self.message,
        )

    def to_json(self) -> dict[str, Any]:
        p = self.place
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": p.file if p else None,
            "line": p.line if p else None,
            "column": p.column if p else None,
            "asset": self.asset,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnostic:
        place = None
        if data.get("file") is not None:
            place = Place(data["file"], data.get("line") or 1, data.get("column") or 1)
        return cls(
            data["code"],
            data["message"],
            Severity(data["severity"]),
            place,
            data.get("asset"),
            data.get("version"),
        )


def sort_diagnostics(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Sorted by file and line (problems without a place last), without duplicates."""
    return sorted(set(diagnostics), key=Diagnostic.sort_key)


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)
