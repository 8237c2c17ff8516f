"""The opcore conformance suite.

Generated from the op registry: every (op, backend, dtype) a backend claims is
checked against a float64 reference, for shapes and dtypes, gradients,
edge cases, input mutation and frontend errors. Run it as
``opcore conformance --backend NAME`` or ``pytest --pyargs opcore_conformance --backend NAME``.
"""

from opcore_conformance.runner import Item, Report, Result, plan, run
from opcore_conformance.spec import Case, Invalid, OpSpec, make_array

__all__ = ["Case", "Invalid", "Item", "OpSpec", "Report", "Result", "make_array", "plan", "run"]
__version__ = "0.1.0"
