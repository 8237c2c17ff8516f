"""Op declarations and registration validation (no backend needed)."""

from __future__ import annotations

from typing import Any

import pytest

from opcore import shapes
from opcore.errors import OpDefinitionError, PluginError
from opcore.registry import OpDef, Registry


def make(name: str = "t.Op", **kw: Any) -> OpDef:
    base: dict[str, Any] = dict(
        inputs=["x: T"], outputs=["y: T"], type_vars={"T": "float32, float64"}, shape_fn=shapes.unchanged("x")
    )
    base.update(kw)
    return OpDef(name, **base)


def test_signature_reads_like_the_declaration() -> None:
    op = make(attrs=["axis: int = 0", "padding: {'SAME', 'VALID'}"], inputs=["x: T", "rest: N * T"])
    assert op.signature == (
        "t.Op(x: T, rest: N * T; axis: int = 0, padding: {'SAME', 'VALID'}) -> (y: T); T in {float32, float64}"
    )


def test_attrs_are_checked_and_normalised() -> None:
    op = make(attrs=["axis: list(int)? = None", "strides: list(int) >= 2", "padding: {'SAME', 'VALID'} = 'SAME'"])
    bound = op.bind_attrs({"axis": 1, "strides": [1, 2]})
    assert bound == {"axis": (1,), "strides": (1, 2), "padding": "SAME"}
    with pytest.raises(OpDefinitionError, match=r"t\.Op: attribute 'strides' expects a list\(int\) of length >= 2"):
        op.bind_attrs({"strides": [1]})
    with pytest.raises(OpDefinitionError, match=r"one of 'SAME', 'VALID'"):
        op.bind_attrs({"strides": [1, 1], "padding": "FULL"})
    with pytest.raises(OpDefinitionError, match=r"unknown attribute"):
        op.bind_attrs({"strides": [1, 1], "axes": 1})
    with pytest.raises(OpDefinitionError, match="missing required attribute 'strides'"):
        op.bind_attrs({})


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"inputs": ["x T"]}, "cannot parse argument spec"),
        ({"inputs": ["x: Q"]}, "neither a type variable"),
        ({"attrs": ["axis: integer"]}, "unknown type 'integer'"),
        ({"gradient": lambda ctx, dy: [dy], "differentiable": False}, "not differentiable but given a gradient"),
        ({"outputs": ["y: n * T"]}, "needs an int attribute 'n'"),
    ],
)
def test_bad_declarations_fail_at_definition(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(OpDefinitionError, match=match):
        make(**kw)


def test_bad_op_name() -> None:
    with pytest.raises(OpDefinitionError, match="not valid"):
        make("my-org.Op")


def _kernel(ctx: Any, x: Any) -> Any:
    return x


def test_registration_clashes_name_plugin_op_and_what_clashed() -> None:
    reg = Registry()
    with reg.plugin_scope("first-dist"):
        reg.register_op(make())
    with pytest.raises(PluginError) as e, reg.plugin_scope("second-dist"):
        reg.register_op(make(inputs=["x: T", "w: T"]))
    msg = str(e.value)
    assert "second-dist" in msg and "t.Op" in msg and "first-dist" in msg and "another signature" in msg

    with pytest.raises(PluginError, match=r"unknown op 't\.Missing'"):
        reg.register_kernel("t.Missing", "numpy", _kernel)
    with pytest.raises(PluginError, match=r"T=int32, outside the op's allowed set \{float32, float64\}"):
        reg.register_kernel("t.Op", "numpy", _kernel, "int32")
    reg.register_kernel("t.Op", "numpy", _kernel, "float32")
    with pytest.raises(PluginError, match=r"second kernel for op 't\.Op' on backend 'numpy'"):
        reg.register_kernel("t.Op", "numpy", _kernel, "float32")
    # Only the backend's own distribution may override its kernels.
    with reg.plugin_scope("opcore-numpy"):
        reg.register_kernel("t.Op", "numpy", _kernel, "float32", override=True)
    assert len(reg.kernels_for("t.Op")) == 1


def test_failed_plugin_scope_rolls_back_everything() -> None:
    reg = Registry()
    with pytest.raises(RuntimeError), reg.plugin_scope("half-broken"):
        reg.register_op(make())
        reg.register_kernel("t.Op", "numpy", _kernel)
        raise RuntimeError("boom")
    assert "t.Op" not in reg.ops
    assert reg.kernels_for("t.Op") == []
