"""The op definition: signature, shape function and gradient, in one place."""

from __future__ import annotations

from typing import Any

from opcore import registry, shapes
from opcore.registry import GradContext


def _zero_out_grad(ctx: GradContext, dy: Any) -> list[Any]:
    # Only the first element passes through, so its gradient is ZeroOut of dy.
    return [ZERO_OUT(dy)]


ZERO_OUT = registry.OpDef(
    "myorg.ZeroOut",
    inputs=["to_zero: T"],
    outputs=["zeroed: T"],
    type_vars={"T": "int32, int64, float32, float64"},
    shape_fn=shapes.unchanged("to_zero"),
    gradient=_zero_out_grad,
    doc="Keep the first element (in row-major order) of ``to_zero``; set every other element to zero.",
)


def zero_out(x: Any) -> Any:
    """Keep the first element of ``x`` and zero the rest.

    >>> import opcore, opcore_zero_out
    >>> opcore_zero_out.zero_out(opcore.constant([[1, 2], [3, 4]])).numpy().tolist()
    [[1, 0], [0, 0]]
    """
    return ZERO_OUT(x)
