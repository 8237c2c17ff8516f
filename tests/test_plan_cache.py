"""Dispatch plans serve every call shape and stay right when anything the plan depends on changes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import dispatch
from opcore.distributed._ops import allreduce_op
from opcore.errors import DTypeError, OpDefinitionError, ShapeError
from opcore.registry import GradContext, define_op, get_registry


def _plans(op: Any) -> int:
    return len(op._plans)


@pytest.fixture
def journal() -> Iterator[list[Any]]:
    """Registrations made in a test, rolled back after it."""
    registry = get_registry()
    entries: list[Any] = []
    yield entries
    for j in reversed(entries):
        registry.rollback(j)


def _register(journal: list[Any], op: Any = None, kernel: Any = None) -> None:
    registry = get_registry()
    with registry.plugin_scope("plancache-test") as j:
        if op is not None:
            registry.register_op(op)
        if kernel is not None:
            name, fn = kernel
            registry.register_kernel(name, "numpy", fn, dtypes={"T": "float32"})
    journal.append(j)


def test_scalar_operands_use_a_plan_and_follow_the_value() -> None:
    t = opcore.constant([1.0, 2.0])
    opcore.add(t, 1.0)
    before = _plans(opcore.add)
    assert (t + 1.0).numpy().tolist() == [2.0, 3.0]
    assert (t + 2.5).numpy().tolist() == [3.5, 4.5]
    assert (3.0 * t).numpy().tolist() == [3.0, 6.0]
    assert _plans(opcore.add) == before  # another value, the same plan


def test_negative_zero_and_nan_scalars_are_not_confused() -> None:
    t = opcore.constant([1.0])
    assert math.copysign(1.0, float((t * 0.0).numpy()[0])) == 1.0
    assert math.copysign(1.0, float((t * -0.0).numpy()[0])) == -1.0
    assert math.isnan(float((t + float("nan")).numpy()[0]))
    assert float((t + 1.0).numpy()[0]) == 2.0


def test_scalar_kind_decides_the_dtype_not_a_cached_plan() -> None:
    i = opcore.constant([1, 2], dtype="int32")
    assert (i + 1).dtype == opcore.int32
    assert (i + 1.5).dtype == opcore.float32  # a float scalar next to ints: the default float
    assert (i + 1.5).numpy().tolist() == [2.5, 3.5]
    assert (i + True).dtype == opcore.int32


def test_an_integer_scalar_that_does_not_fit_is_an_error_every_time() -> None:
    b = opcore.constant([1, 2], dtype="int8")
    assert (b + 100).numpy().tolist() == [101, 102]
    for _ in range(2):
        with pytest.raises(DTypeError, match=r"input 'y'.*int8"):
            b + 300


def test_dtype_and_shape_changes_take_new_plans() -> None:
    for dtype in ("float32", "float64", "int32"):
        t = opcore.constant([1, 2, 3], dtype=dtype)
        r = t + 1
        assert r.dtype.name == dtype and r.numpy().tolist() == [2, 3, 4]
    m = opcore.constant(np.ones((2, 3), np.float32))
    assert (m + 1.0).shape.as_tuple() == (2, 3)


def test_variables_use_a_plan_and_see_their_current_value() -> None:
    v = opcore.Variable([1.0, 2.0])
    t = opcore.constant([10.0, 10.0])
    assert (v + t).numpy().tolist() == [11.0, 12.0]
    v.assign([5.0, 6.0])
    assert (v + t).numpy().tolist() == [15.0, 16.0]
    assert opcore.add(v, t).numpy().tolist() == [15.0, 16.0]  # a Variable as an op input
    v.assign([0.0, 1.0])
    assert opcore.add(v, t).numpy().tolist() == [10.0, 11.0]


def test_variables_read_through_a_cached_plan_are_watched_by_tapes() -> None:
    v = opcore.Variable([3.0])
    t = opcore.constant([2.0])
    for _ in range(2):  # the second call runs the cached plan
        with opcore.GradientTape() as tape:
            y = opcore.multiply(v, t)
        assert tape.gradient(y, v).numpy().tolist() == [2.0]
    with opcore.GradientTape() as tape:
        y = v * 4.0
    assert tape.gradient(y, v).numpy().tolist() == [4.0]


def test_numpy_operands_are_converted_every_call() -> None:
    t = opcore.constant([1.0, 1.0])
    a = np.array([1.0, 2.0], np.float32)
    assert (t + a).numpy().tolist() == [2.0, 3.0]
    a[0] = 7.0
    assert (t + a).numpy().tolist() == [8.0, 3.0]


def test_attribute_values_key_the_plan() -> None:
    m = opcore.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert opcore.reduce_sum(m, axis=1).numpy().tolist() == [3.0, 12.0]
    assert opcore.reduce_sum(m, axis=0).numpy().tolist() == [3.0, 5.0, 7.0]
    assert opcore.reduce_sum(m, 0).numpy().tolist() == [3.0, 5.0, 7.0]  # by position
    assert opcore.reduce_sum(m, axis=[0, 1]).numpy().tolist() == 15.0
    assert opcore.reduce_sum(m, axis=1, keepdims=True).shape.as_tuple() == (2, 1)
    assert opcore.reshape(m, [3, 2]).shape.as_tuple() == (3, 2)
    assert opcore.reshape(m, [-1]).shape.as_tuple() == (6,)
    assert opcore.reshape(m, (6, 1)).shape.as_tuple() == (6, 1)


def test_an_attribute_of_the_wrong_type_is_rejected_even_after_a_plan_exists() -> None:
    m = opcore.constant(np.ones((2, 3), np.float32))
    opcore.reduce_sum(m, axis=1)
    with pytest.raises(OpDefinitionError):
        opcore.reduce_sum(m, axis=1.0)
    opcore.reduce_sum(m, axis=1, keepdims=True)
    # 1 and True are equal as Python values; they must not share a plan.
    key_int = dispatch._call_key((m,), {"axis": 1, "keepdims": True}, ())
    key_bool = dispatch._call_key((m,), {"axis": 1, "keepdims": 1}, ())
    assert key_int != key_bool


def test_indexing_plans_follow_the_index() -> None:
    m = opcore.constant(np.arange(12, dtype=np.float32).reshape(3, 4))
    assert m[0].numpy().tolist() == [0.0, 1.0, 2.0, 3.0]
    assert m[1].numpy().tolist() == [4.0, 5.0, 6.0, 7.0]
    assert m[-1].numpy().tolist() == [8.0, 9.0, 10.0, 11.0]
    assert m[0:2, 1].numpy().tolist() == [1.0, 5.0]
    assert m[:, ::-2].numpy().tolist() == [[3.0, 1.0], [7.0, 5.0], [11.0, 9.0]]
    assert m[None, 0].shape.as_tuple() == (1, 4)
    assert m[..., 2].numpy().tolist() == [2.0, 6.0, 10.0]
    for _ in range(2):
        with pytest.raises(ShapeError, match="cannot index a tensor of shape"):
            m[3]


def test_views_never_change_when_a_variable_is_updated_in_place() -> None:
    v = opcore.Variable(np.ones((2, 2), np.float32))
    opt = opcore.train.GradientDescentOptimizer(1.0)
    g = opcore.constant(np.ones((2, 2), np.float32))
    opt.apply_gradients([(g, v)])
    row = v.value()[0]  # a view of the variable's buffer on NumPy
    flat = opcore.reshape(v.value(), [-1])
    held = v.value()
    opt.apply_gradients([(g, v)])
    assert row.numpy().tolist() == [0.0, 0.0]
    assert flat.numpy().tolist() == [0.0] * 4
    assert held.numpy().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert v.numpy().tolist() == [[-1.0, -1.0], [-1.0, -1.0]]


def test_optimizer_updates_write_into_the_variable_buffer_when_nothing_else_reads_it() -> None:
    v = opcore.Variable(np.ones((4,), np.float32))
    opt = opcore.train.AdamOptimizer(0.1)
    g = opcore.constant(np.ones((4,), np.float32))
    opt.apply_gradients([(g, v)])
    buffers = {id(v.value()._value), id(opt.get_slot(v, "m").value()._value)}
    expected = v.numpy()
    for _ in range(3):
        opt.apply_gradients([(g, v)])
    assert {id(v.value()._value), id(opt.get_slot(v, "m").value()._value)} == buffers
    assert not np.allclose(v.numpy(), expected)  # and the values did change


def test_in_place_and_functional_updates_agree() -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5).astype(np.float32) for _ in range(4)]
    results = []
    for hold in (False, True):
        v = opcore.Variable(np.ones(5, np.float32))
        opt = opcore.train.AdamOptimizer(0.01)
        held = []
        for g in grads:
            if hold:
                held.append(v.value())  # keeps every buffer alive: each update must be functional
            opt.apply_gradients([(opcore.constant(g), v)])
        results.append(v.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_a_kernel_registered_later_replaces_cached_plans(journal: list[Any]) -> None:
    op = define_op(
        "plancache.Twice",
        register=False,
        inputs=["x: T"],
        outputs=["y: T"],
        type_vars={"T": "float32"},
        shape_fn=lambda ctx: ctx.input("x"),
        differentiable=False,
    )
    _register(journal, op)
    _register(journal, kernel=(op.name, lambda ctx, x: x * 2))
    t = opcore.constant([1.0, 2.0])
    assert op(t).numpy().tolist() == [2.0, 4.0]
    assert op(t).numpy().tolist() == [2.0, 4.0]  # from the plan
    get_registry().rollback(journal.pop())  # the kernel's plugin goes away...
    _register(journal, kernel=(op.name, lambda ctx, x: x * 3))  # ...and another one registers
    assert op(t).numpy().tolist() == [3.0, 6.0]


def test_a_gradient_function_receives_none_for_an_unused_output(journal: list[Any]) -> None:
    seen: list[Any] = []

    def grad(ctx: GradContext, da: Any, db: Any) -> list[Any]:
        seen.append((da is None, db is None, ctx.needs))
        return [da if da is not None else db]

    op = define_op(
        "plancache.Pair",
        register=False,
        inputs=["x: T"],
        outputs=["a: T", "b: T"],
        type_vars={"T": "float32"},
        shape_fn=lambda ctx: [ctx.input("x"), ctx.input("x")],
        gradient=grad,
    )
    _register(journal, op, (op.name, lambda ctx, x: (x * 2, x * 3)))
    x = opcore.constant([1.0, 2.0])
    with opcore.GradientTape() as tape:
        tape.watch(x)
        a, _b = op(x)
        y = opcore.reduce_sum(a)
    g = tape.gradient(y, x)
    assert g.numpy().tolist() == [1.0, 1.0]
    assert seen == [(False, True, (True,))]  # no zeros were made for b


def test_unneeded_input_gradients_are_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    from opcore import opdef

    x = opcore.constant(np.ones((8, 4), np.float32))  # data: no gradient wanted
    w = opcore.Variable(np.ones((4, 3), np.float32))
    calls: list[str] = []
    with opcore.GradientTape() as tape:
        y = opcore.reduce_sum(opcore.matmul(x, w))
    original = dispatch.call_op

    def spy(op: Any, inputs: Any, attrs: Any, name: Any = None) -> Any:
        calls.append(op.name)
        return original(op, inputs, attrs, name)

    monkeypatch.setattr(opdef, "_call_op", spy)  # every OpDef call goes through it
    gw = tape.gradient(y, w)
    assert gw.numpy().tolist() == [[8.0] * 3] * 4
    assert calls.count("MatMul") == 1  # only x^T @ dy; dy @ w^T for the data is skipped


def test_one_tensor_with_attributes_takes_one_plan_per_attribute_value(monkeypatch: pytest.MonkeyPatch) -> None:
    m = opcore.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    calls = [
        (lambda: opcore.reduce_sum(m, axis=1), [3.0, 12.0]),
        (lambda: opcore.reduce_sum(m, 1), [3.0, 12.0]),
        (lambda: opcore.reduce_sum(m, axis=1, keepdims=True), [[3.0], [12.0]]),
        (lambda: opcore.reduce_mean(m, axis=[0, 1]), 2.5),
        (lambda: opcore.reshape(m, [-1]), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        (lambda: opcore.reshape(m, shape=(3, 2)), [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]),
    ]
    for call, expected in calls:
        assert call().numpy().tolist() == expected  # makes the plan
    slow: list[str] = []
    real = dispatch._call_slow
    monkeypatch.setattr(dispatch, "_call_slow", lambda op, *a, **k: slow.append(op.name) or real(op, *a, **k))
    for call, expected in calls:
        assert call().numpy().tolist() == expected
    assert slow == []


@pytest.mark.parametrize(
    "call",
    [
        lambda m: opcore.reduce_sum(m, axis=1.0),
        lambda m: opcore.reduce_sum(m, axis=True),
        lambda m: opcore.reshape(m, [-1.0]),
        lambda m: opcore.reshape(m, [True, 6]),
        lambda m: opcore.reshape(m, [np.float64(6)]),
    ],
)
def test_attribute_values_equal_to_a_cached_plans_are_still_type_checked(call: Any) -> None:
    m = opcore.constant(np.ones((1, 6), np.float32))
    opcore.reduce_sum(m, axis=1)
    opcore.reshape(m, [-1])
    opcore.reshape(m, [1, 6])
    for _ in range(2):
        with pytest.raises(OpDefinitionError):
            call(m)


def test_keyword_and_positional_attributes_take_the_keys_that_attr_key_makes() -> None:
    # call_op builds the short keys inline; _attr_key (the slow path's key) must make the same ones,
    # else every call would miss its plan.
    m = opcore.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    opcore.reduce_sum(m, axis=1)
    opcore.reduce_sum(m, axis=[0])
    opcore.reduce_sum(m, 1)
    opcore.reshape(m, [-1])
    assert dispatch._attr_key(m._spec, {"axis": 1}, ()) in opcore.reduce_sum._plans
    assert dispatch._attr_key(m._spec, {"axis": [0]}, ()) in opcore.reduce_sum._plans
    assert dispatch._attr_key(m._spec, {}, (1,)) in opcore.reduce_sum._plans
    assert dispatch._attr_key(m._spec, {}, ([-1],)) in opcore.reshape._plans
    allreduce_op(m, reduction="sum")  # one string attribute by keyword
    assert dispatch._attr_key(m._spec, {"reduction": "sum"}, ()) in allreduce_op._plans
    sum_key, max_key = (dispatch._attr_key(m._spec, {"reduction": r}, ()) for r in ("sum", "max"))
    assert sum_key != max_key
    # The attribute's name is part of a keyword key; its position is not part of a positional one.
    assert dispatch._attr_key(m._spec, {"axis": 1}, ()) != dispatch._attr_key(m._spec, {"keepdims": 1}, ())
    assert dispatch._attr_key(m._spec, {"axis": 1}, ()) != dispatch._attr_key(m._spec, {}, (1,))


def test_lists_of_tensors_take_the_keys_that_list_key_makes() -> None:
    # call_op builds the common list keys inline; _list_key must make the same ones.
    a = opcore.constant(np.ones((2, 3), np.float32))
    opcore.concat([a, a], 0)
    opcore.stack([a, a])
    opcore.stack([a, a], axis=1)
    opcore.stack([a, a], 1)  # an attribute by position: the inline key
    assert dispatch._list_key([a, a], {}, (0,)) in opcore.concat._plans
    assert dispatch._list_key([a, a], {}, (1,)) in opcore.stack._plans
    assert dispatch._list_key([a, a], {}, ()) in opcore.stack._plans
    assert dispatch._list_key([a, a], {"axis": 1}, ()) in opcore.stack._plans
    assert dispatch._list_key([a, a], {}, (0,)) != dispatch._list_key([a, a, a], {}, ())


def test_a_taped_list_input_is_the_list_as_it_was_called() -> None:
    a = opcore.constant(np.ones((2, 3), np.float32))
    b = opcore.constant(np.full((1, 3), 2.0, np.float32))
    weights = opcore.constant(np.arange(9, dtype=np.float32).reshape(3, 3))
    for _ in range(2):  # the second round runs on the cached plan
        values = [a, b]
        with opcore.GradientTape() as tape:
            tape.watch(a)
            tape.watch(b)
            y = opcore.concat(values, 0)
            values[0] = b  # the caller reuses its list after the call
            values.append(a)
            loss = opcore.reduce_sum(y * weights)
        da, db = tape.gradient(loss, [a, b])
        assert da.numpy().tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        assert db.numpy().tolist() == [[6.0, 7.0, 8.0]]


def test_keyword_attributes_of_every_form_follow_the_value() -> None:
    m = opcore.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    for _ in range(2):  # the second round runs on cached plans
        assert opcore.reduce_sum(m, axis=1).numpy().tolist() == [3.0, 12.0]
        assert opcore.reduce_sum(m, axis=0).numpy().tolist() == [3.0, 5.0, 7.0]
        assert opcore.reduce_sum(m, axis=-1).numpy().tolist() == [3.0, 12.0]
        assert opcore.reduce_sum(m, axis=[1]).numpy().tolist() == [3.0, 12.0]
        assert opcore.reduce_sum(m, axis=(0,)).numpy().tolist() == [3.0, 5.0, 7.0]
        assert opcore.reduce_sum(m, axis=[]).numpy().tolist() == m.numpy().tolist()
        assert opcore.reduce_sum(m, axis=None).numpy().tolist() == 15.0
        assert opcore.reshape(m, shape=[3, 2]).shape.as_tuple() == (3, 2)
        assert opcore.reshape(m, shape=[6]).shape.as_tuple() == (6,)
        with pytest.raises(OpDefinitionError):
            opcore.reduce_sum(m, axis=[1.0])
        with pytest.raises(ShapeError):
            opcore.reduce_sum(m, axis=2)


def test_lists_of_tensors_take_plans_that_follow_values_dtypes_shapes_and_counts() -> None:
    rng = np.random.default_rng(3)
    concat = opcore.get_op("ConcatV2")
    concat._plans.clear()
    for _ in range(2):  # the second round runs on cached plans
        for dtype in ("float32", "float64", "int32"):
            for shapes in (((2, 3), (4, 3)), ((2, 3), (2, 3), (1, 3))):
                arrays = [(rng.standard_normal(s) * 10).astype(dtype) for s in shapes]
                ts = [opcore.constant(a) for a in arrays]
                for r in (opcore.concat(ts, 0), opcore.concat(ts, axis=0)):
                    assert r.dtype.name == dtype and np.array_equal(r.numpy(), np.concatenate(arrays))
                if shapes[0] == shapes[1]:
                    for axis in (0, 1, -1):
                        got = opcore.stack(ts[:2], axis=axis).numpy()
                        assert np.array_equal(got, np.stack(arrays[:2], axis=axis)), axis
    assert 0 < _plans(concat) <= 2 * 3 * 2  # one plan per (dtypes, shapes, attribute form)


def test_lists_holding_variables_scalars_or_mixed_dtypes_are_right_without_a_plan() -> None:
    v = opcore.Variable([1.0, 2.0])
    t = opcore.constant([3.0, 4.0])
    for first in (1.0, 7.0):
        assert opcore.concat([v, t], 0).numpy().tolist() == [first, first + 1, 3.0, 4.0]
        assert opcore.stack([t, [5.0, 6.0]]).numpy().tolist() == [[3.0, 4.0], [5.0, 6.0]]
        v.assign([7.0, 8.0])
    for _ in range(2):  # promoted as by add: a list that needs casts runs the full path each time
        r = opcore.concat([t, opcore.constant([1], dtype="int32")], 0)
        assert r.dtype.name == "float32" and r.numpy().tolist() == [3.0, 4.0, 1.0]
        assert opcore.concat([t, opcore.constant([1.5], dtype="float64")], 0).dtype.name == "float64"
    with pytest.raises(DTypeError):
        opcore.concat([t, opcore.constant(["a"])], 0)


def test_a_cached_list_plan_is_recorded_on_tapes() -> None:
    a = opcore.constant([1.0, 2.0])
    b = opcore.constant([3.0])
    w = opcore.constant([1.0, 2.0, 3.0])
    for _ in range(3):  # the first call plans, later ones run the plan
        with opcore.GradientTape() as tape:
            tape.watch(a)
            tape.watch(b)
            y = opcore.reduce_sum(opcore.concat([a, b], 0) * w)
        ga, gb = tape.gradient(y, [a, b])
        assert ga.numpy().tolist() == [1.0, 2.0] and gb.numpy().tolist() == [3.0]
