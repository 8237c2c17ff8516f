"""The opcore conformance suite.

Generated from the op registry: every (op, backend, dtype) a backend claims is
checked against a float64 reference, for shapes and dtypes, gradients,
edge cases, input mutation and frontend errors. Run it as
``opcore conformance --backend NAME`` or ``pytest --pyargs opcore_conformance --backend NAME``.
The JSON report's layout is documented in SCHEMA.md (and ``load_schema()``).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from opcore_conformance.runner import FAILING, SCHEMA_VERSION, VERDICTS, Item, Report, Result, plan, run, run_plan
from opcore_conformance.spec import BadValues, Case, Invalid, OpSpec, make_array
from opcore_conformance.xfail import XfailEntry, XfailFileError, load_xfail, parse_xfail

__all__ = [
    "FAILING",
    "SCHEMA_VERSION",
    "VERDICTS",
    "BadValues",
    "Case",
    "Invalid",
    "Item",
    "OpSpec",
    "Report",
    "Result",
    "XfailEntry",
    "XfailFileError",
    "load_schema",
    "load_xfail",
    "make_array",
    "parse_xfail",
    "plan",
    "run",
    "run_plan",
]
__version__ = "0.1.0"


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the report (``report.schema.json``), for validating ``--json`` output."""
    text = resources.files("opcore_conformance").joinpath("report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
