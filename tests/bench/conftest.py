"""Benchmarks: `make bench`. They print what they measure; targets are reported, not asserted."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/bench/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.bench)
