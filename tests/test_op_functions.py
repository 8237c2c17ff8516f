"""Every public op is a function to its readers: ``help(opcore.gather)``, ``inspect.signature`` and
IDEs that ask the live object see its own name, parameters and documentation."""

from __future__ import annotations

import inspect
import pydoc

import numpy as np
import pytest

import opcore
import opcore.compat.v1 as tf
from opcore import ops, registry, shapes

# Functions of the op modules that are not ops (seeds, the indexing helper).
NOT_OPS = {"get_seed", "set_seed", "getitem"}


def _public_ops() -> list[tuple[str, object]]:
    out = []
    for name in opcore.__all__:
        value = getattr(opcore, name)
        if isinstance(value, registry.OpDef) or (
            inspect.isfunction(value) and value.__module__.startswith("opcore.ops") and name not in NOT_OPS
        ):
            out.append((name, value))
    return out


PUBLIC_OPS = _public_ops()


def test_the_op_set_is_not_empty() -> None:
    assert len(PUBLIC_OPS) > 90
    assert {"gather", "matmul", "reduce_sum", "conv2d", "dropout"} <= {n for n, _ in PUBLIC_OPS}


@pytest.mark.parametrize(("name", "fn"), PUBLIC_OPS, ids=[n for n, _ in PUBLIC_OPS])
def test_every_public_op_has_its_own_signature_and_docs(name: str, fn: object) -> None:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    kinds = {p.kind for p in sig.parameters.values()}
    assert inspect.Parameter.VAR_POSITIONAL not in kinds and inspect.Parameter.VAR_KEYWORD not in kinds, sig
    assert "name" in sig.parameters, f"{name}{sig} takes no name="
    doc = inspect.getdoc(fn)
    assert doc and len(doc) > 20
    assert getattr(fn, "__name__", None) == name
    if isinstance(fn, registry.OpDef):
        expected = [a.name for a in fn.inputs] + list(fn.attrs) + ["name"]
        assert list(sig.parameters) == expected
        for attr in fn.attrs.values():
            p = sig.parameters[attr.name]
            if attr.has_default:
                assert p.default == attr.default
    rendered = pydoc.render_doc(fn, renderer=pydoc.plaintext)
    assert f"{name}{sig}" in rendered
    assert doc.splitlines()[0] in rendered


def test_help_shows_gather_as_a_function() -> None:
    text = pydoc.render_doc(opcore.gather, renderer=pydoc.plaintext)
    assert "gather(params: 'TensorLike', indices: 'TensorLike', axis: 'int' = 0, *, name: 'str | None' = None)" in text
    assert "Take the slices of ``params`` along ``axis``" in text
    assert "OpDef(name" not in text and "*inputs" not in text
    assert inspect.isroutine(opcore.gather)
    assert opcore.gather.__module__ == "opcore.ops.indexing"


def test_inputs_may_be_given_by_keyword() -> None:
    params = np.arange(6.0).reshape(3, 2)
    out = opcore.gather(params=params, indices=[2, 0], axis=0)
    assert out.numpy().tolist() == [[4.0, 5.0], [0.0, 1.0]]
    assert opcore.add(1.0, y=2.0).numpy() == 3.0
    assert opcore.reduce_sum(x=np.ones((2, 3)), axis=1).numpy().tolist() == [3.0, 3.0]
    with pytest.raises(opcore.OpDefinitionError, match="given both by position and by keyword"):
        opcore.add(1.0, 2.0, x=3.0)
    with pytest.raises(opcore.OpDefinitionError, match="missing input"):
        opcore.add(x=1.0)


def test_a_required_attribute_after_a_default_is_keyword_only() -> None:
    sig = inspect.signature(opcore.conv2d_backprop_input)
    assert sig.parameters["strides"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert sig.parameters["data_format"].default == "NHWC"
    op = registry.define_op(
        "doc.Mixed",
        inputs=["x: T"],
        outputs=["y: T"],
        type_vars={"T": "float32"},
        attrs=["scale: float = 1.0", "shift: float"],
        shape_fn=shapes.unchanged("x"),
        differentiable=False,
        register=False,
    )
    sig = inspect.signature(op)
    assert sig.parameters["shift"].kind is inspect.Parameter.KEYWORD_ONLY
    assert str(sig).startswith("(x: 'TensorLike', scale: 'float' = 1.0, *, shift: 'float', name:")


def test_a_plugin_op_gets_a_signature_too() -> None:
    op = registry.OpDef(
        "myorg.ZeroOut",
        inputs=["to_zero: T"],
        outputs=["zeroed: T"],
        type_vars={"T": "int32, float32"},
        shape_fn=shapes.unchanged("to_zero"),
        differentiable=False,
        doc="Zero every element but the first.",
    )
    assert op.__name__ == "zero_out"
    assert str(inspect.signature(op)) == "(to_zero: 'TensorLike', *, name: 'str | None' = None) -> 'Tensor'"
    assert op.__doc__ is not None and op.__doc__.startswith("Zero every element but the first.")
    assert op.__module__ == __name__
    assert registry.OpDef.__doc__ is not None and registry.OpDef.__doc__.startswith("One op, declared once")


def test_an_op_on_a_class_binds_like_a_function() -> None:
    class Scaled:
        double = opcore.multiply

    assert Scaled.double is opcore.multiply
    assert Scaled().double.__self__ is not None


def test_the_compat_namespace_shows_tensorflow_1_signatures() -> None:
    assert list(inspect.signature(tf.nn.dropout).parameters) == [
        "x",
        "keep_prob",
        "noise_shape",
        "seed",
        "name",
        "rate",
    ]
    assert list(inspect.signature(tf.reduce_mean).parameters)[:4] == ["input_tensor", "axis", "keepdims", "name"]
    assert list(inspect.signature(tf.add).parameters) == ["x", "y", "name"]
    assert tf.add.__doc__ == opcore.add.__doc__
    for name in tf.__all__:
        value = getattr(tf, name)
        if inspect.isfunction(value):
            kinds = {p.kind for p in inspect.signature(value).parameters.values()}
            assert inspect.Parameter.VAR_KEYWORD not in kinds or name in {"group"}, name
    assert ops.math.add is opcore.add
