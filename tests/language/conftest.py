"""Fixtures for the language tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def docs_language() -> str:
    return (REPO / "docs" / "language.md").read_text(encoding="utf-8")
