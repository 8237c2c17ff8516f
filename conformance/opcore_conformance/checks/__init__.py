"""The individual checks run for one (op, backend, dtype binding).

The checks live in modules by concern; this package re-exports them, so
``opcore_conformance.checks.check_forward`` and the rest keep their names:

- :mod:`~opcore_conformance.checks.compare`: tolerances, comparison with the
  reference, and :class:`CheckFailure`;
- :mod:`~opcore_conformance.checks.inputs`: a case made concrete
  (:class:`Prepared`), the call on a backend, the reproduction snippet;
- :mod:`~opcore_conformance.checks.forward`: forward values, shapes and dtypes,
  input mutation, eager vs graph, random ops;
- :mod:`~opcore_conformance.checks.gradient`: gradients vs finite differences
  and vs the reference backend;
- :mod:`~opcore_conformance.checks.invalid`: invalid calls, invalid values and
  unclaimed dtypes.
"""

from __future__ import annotations

from opcore_conformance.checks.compare import TOLERANCES, CheckFailure, MissingKernel, compare, worst_element
from opcore_conformance.checks.forward import check_forward, check_graph, shape_agrees
from opcore_conformance.checks.gradient import GRAD_MAX_ELEMENTS, GRAD_TOL, check_gradient, grad_repro_snippet
from opcore_conformance.checks.inputs import Prepared, call, input_dtypes, prepare, repro_snippet, shapes_text
from opcore_conformance.checks.invalid import bad_values_inputs, check_bad_values, check_invalid, check_unclaimed

__all__ = [
    "GRAD_MAX_ELEMENTS",
    "GRAD_TOL",
    "TOLERANCES",
    "CheckFailure",
    "MissingKernel",
    "Prepared",
    "bad_values_inputs",
    "call",
    "check_bad_values",
    "check_forward",
    "check_gradient",
    "check_graph",
    "check_invalid",
    "check_unclaimed",
    "compare",
    "grad_repro_snippet",
    "input_dtypes",
    "prepare",
    "repro_snippet",
    "shape_agrees",
    "shapes_text",
    "worst_element",
]
