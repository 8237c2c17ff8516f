"""The conformance suite as pytest items (one per op and dtype binding)."""

from __future__ import annotations

from typing import Any

import pytest

from opcore_conformance.runner import DEFAULT_EXAMPLES, Item, run_item


def test_conformance(conformance_item: Item, request: Any) -> None:
    examples = request.config.getoption("--opcore-examples") or DEFAULT_EXAMPLES
    result = run_item(conformance_item, examples)
    if result.verdict == "unsupported":
        pytest.skip(f"not supported by the device: {result.message}")
    assert result.verdict in ("passed", "not-claimed"), (
        f"{result.op} {result.binding} [{result.check}]: {result.message}\ninputs: {result.shapes}\n{result.repro}"
    )
