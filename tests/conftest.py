"""Shared test helpers for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest


def shared_dir() -> Path:
    """The `shared/` reference folder beside the repository (found by walking up from this file)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared"
        if candidate.is_dir() and (candidate / "okta-reference.md").exists():
            return candidate
    raise FileNotFoundError("no shared/ directory beside the repository")


@pytest.fixture(scope="session")
def shared_path() -> Path:
    """`shared_dir()` as a fixture, for test modules that can't import conftest."""
    return shared_dir()
