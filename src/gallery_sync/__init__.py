"""gallery-sync: keep a model gallery in step with gallery.yaml (validate, plan, apply)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
