"""Shared test helpers for the whole suite."""

from __future__ import annotations

from pathlib import Path

# Test data vendored in the repository (see tests/data/README.md): OpenAPI description, sample events.
DATA = Path(__file__).resolve().parent / "data"
