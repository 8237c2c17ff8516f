"""The conformance suite as pytest items (one per op and dtype binding)."""

from __future__ import annotations

from typing import Any

import pytest

from opcore_conformance.runner import DEFAULT_EXAMPLES, FAILING, Item, run_item


def test_conformance(conformance_item: Item, request: Any) -> None:
    examples = request.config.getoption("--opcore-examples") or DEFAULT_EXAMPLES
    result = run_item(conformance_item, examples)
    if result.verdict == "unsupported":
        pytest.skip(f"not supported by the device: {result.message}")
    if result.verdict == "xfail":
        pytest.xfail(f"{result.xfail_reason} ({result.check}: {result.message.splitlines()[0]})")
    assert result.verdict not in FAILING, (
        f"{result.op} {result.binding} {result.verdict} [{result.check}]: {result.message}\n"
        f"inputs: {result.shapes}\n{result.repro}"
    )
