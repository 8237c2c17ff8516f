"""Ops whose output size depends on values: the VALUE_DEPENDENT dimension through eager plans, the result
contract, graphs with unknown dimensions, late-planned sessions and gradients; and TensorFlow 1's
``where(cond)``, ``boolean_mask``, ``unique`` and ``setdiff1d``, checked against PyTorch and plain Python."""

from __future__ import annotations

import doctest
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import session as session_module
from opcore._kernels import fits
from opcore.errors import DTypeError, KernelContractError, OpDefinitionError, ShapeError
from opcore.ops import math as math_ops
from opcore.ops import selection
from opcore.registry import KernelContext, OpDef, get_registry
from opcore.shapes import VALUE_DEPENDENT, Shape, ShapeContext

# --------------------------------------------------------------------------- a plugin-style op


@pytest.fixture
def journal() -> Iterator[list[Any]]:
    """Registrations made in a test, rolled back after it."""
    registry = get_registry()
    entries: list[Any] = []
    yield entries
    for j in reversed(entries):
        registry.rollback(j)


def _positives_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    if x.rank is not None and x.rank != 1:
        raise ctx.error(f"x must be a vector, got shape {x}")
    return Shape([VALUE_DEPENDENT])


def _define_positives(journal: list[Any], kernel: Any, shape_fn: Any = _positives_shape) -> OpDef:
    """``vd.Positives``: the positive entries of a vector; its length depends on the values."""
    op = OpDef(
        "vd.Positives",
        inputs=["x: T"],
        outputs=["y: T"],
        type_vars={"T": "float32, float64"},
        shape_fn=shape_fn,
        differentiable=False,
    )
    registry = get_registry()
    with registry.plugin_scope("value-dependent-test") as j:
        registry.register_op(op)
        registry.register_kernel(op, "numpy", kernel, "float32, float64")
    journal.append(j)
    return op


def test_the_marker_is_an_unknown_dimension_that_remembers_where_it_is() -> None:
    s = Shape([3, VALUE_DEPENDENT, None])
    assert s.dims == (3, None, None) and s.value_dependent == (1,)
    assert s == Shape([3, None, None]) and hash(s) == hash(Shape([3, None, None]))
    assert str(s) == "(3, ?, ?)" and repr(s) == "Shape([3, VALUE_DEPENDENT, None])"
    assert Shape([3, None]).value_dependent == () and Shape(None).value_dependent == ()
    assert fits((4, 2), (None, 2)) and not fits((4, 3), (None, 2)) and not fits((4,), (None, 2))


def test_eager_calls_take_one_plan_whatever_size_the_kernel_chooses(journal: list[Any]) -> None:
    seen: list[Any] = []

    def kernel(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
        seen.append(ctx.out_shapes)
        return x[x > 0]

    op = _define_positives(journal, kernel)
    assert op(opcore.constant([1.0, -2.0, 3.0])).numpy().tolist() == [1.0, 3.0]
    out = op(opcore.constant([-1.0, -2.0, 5.0]))
    assert out.shape == Shape([1]) and out.numpy().tolist() == [5.0]
    assert op(opcore.constant([1.0, 2.0, 3.0])).shape == Shape([3])
    assert len(op._plans) == 1  # one call signature, three sizes
    assert seen == [((None,),)] * 3  # the kernel is told which dimension is its to decide


def test_the_result_contract_still_holds_for_every_other_dimension(journal: list[Any]) -> None:
    op = _define_positives(journal, lambda ctx, x: x[x > 0].reshape(-1, 1))
    with pytest.raises(KernelContractError, match=r"returned \[\(2, 1\) float32\].*inferred \[\(\?,\) float32\]"):
        op(opcore.constant([1.0, -2.0, 3.0]))


def test_an_unmarked_unknown_dimension_in_eager_mode_names_the_marker(journal: list[Any]) -> None:
    op = _define_positives(journal, lambda ctx, x: x[x > 0], shape_fn=lambda ctx: Shape([None]))
    with pytest.raises(OpDefinitionError, match="VALUE_DEPENDENT"):
        op(opcore.constant([1.0]))


def test_a_session_plans_the_ops_after_a_value_dependent_one_when_their_inputs_arrive(journal: list[Any]) -> None:
    op = _define_positives(journal, lambda ctx, x: x[x > 0])
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float64, [5])
        y = op(x)
        doubled = y * 2.0
        total = opcore.reduce_sum(doubled)
        tail = opcore.concat([doubled, opcore.constant([7.0], dtype=opcore.float64)], axis=0)
    assert y.shape == Shape([None]) and doubled.shape == Shape([None]) and tail.shape == Shape([None])
    rng = np.random.default_rng(0)
    with opcore.Session(graph=g) as sess:
        # The same feed shape each time: one compiled plan; the sizes after the op differ per run.
        for _ in range(2 * session_module._MAX_LATE_CONTEXTS):
            v = rng.standard_normal(5)
            got_y, got_total, got_tail = sess.run([y, total, tail], {x: v})
            want = v[v > 0]
            assert np.array_equal(got_y, want)
            assert got_total == pytest.approx(2 * want.sum())
            assert np.array_equal(got_tail, np.concatenate([2 * want, [7.0]]))
        assert len(sess._plans) == 1
        (plan,) = sess._plans.values()
        late = [s for s in plan.steps if s[0] == session_module._LATE]
        assert late and all(len(s[2]) <= 6 for s in late)  # one context per input shape seen: 0..5 kept


def test_a_bad_shape_after_a_value_dependent_op_fails_when_the_graph_runs(journal: list[Any]) -> None:
    op = _define_positives(journal, lambda ctx, x: x[x > 0])
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float64, [3])
        bad = op(x) + opcore.constant([1.0, 2.0], dtype=opcore.float64)  # fine unless y has 3 elements
    with opcore.Session(graph=g) as sess:
        assert sess.run(bad, {x: [1.0, -1.0, 2.0]}).tolist() == [2.0, 4.0]
        with pytest.raises(ShapeError, match="cannot be broadcast"):
            sess.run(bad, {x: [1.0, 1.0, 2.0]})


# --------------------------------------------------------------------------- TensorFlow 1's ops, eagerly


def _numpy_mask(t: np.ndarray, mask: np.ndarray, axis: int) -> np.ndarray:
    """NumPy's boolean indexing, the reference: a mask over dims axis..axis+k-1."""
    ax = axis % t.ndim
    return t[(slice(None),) * ax + (mask,)]


@pytest.mark.parametrize(
    ("shape", "axis", "k"), [((7,), 0, 1), ((4, 5), 0, 1), ((4, 5), 1, 1), ((3, 4, 5), -2, 2), ((2, 3, 4, 2), 1, 2)]
)
def test_boolean_mask_takes_what_numpy_boolean_indexing_takes(shape: tuple[int, ...], axis: int, k: int) -> None:
    rng = np.random.default_rng(len(shape) + axis)
    t = rng.standard_normal(shape).astype(np.float32)
    ax = axis % len(shape)
    for p in (0.0, 0.4, 1.0):
        mask = rng.random(shape[ax : ax + k]) < p
        got = opcore.boolean_mask(opcore.constant(t), mask, axis=axis)
        assert np.array_equal(got.numpy(), _numpy_mask(t, mask, axis))
        assert got.dtype is opcore.float32


def test_boolean_mask_defaults_to_axis_zero_and_rejects_what_tensorflow_rejects() -> None:
    t = opcore.constant([[1, 2], [3, 4]])
    assert opcore.boolean_mask(t, [False, True]).numpy().tolist() == [[3, 4]]
    assert opcore.boolean_mask(t, [False, True], axis=None).numpy().tolist() == [[3, 4]]
    with pytest.raises(ShapeError, match="BooleanMask: mask must have at least one dimension"):
        opcore.boolean_mask(t, True)
    with pytest.raises(ShapeError, match=r"BooleanMask: mask with shape \(3,\) does not match"):
        opcore.boolean_mask(t, [True, False, True])
    with pytest.raises(ShapeError, match="does not fit"):
        opcore.boolean_mask(t, [[True, False]], axis=1)
    with pytest.raises(DTypeError, match="BooleanMask"):
        opcore.boolean_mask(t, opcore.constant([1.0, 0.0]))


def test_where_with_one_argument_lists_the_coordinates_numpy_lists() -> None:
    rng = np.random.default_rng(1)
    for shape in [(), (6,), (3, 4), (2, 3, 4), (0, 3)]:
        c = rng.random(shape) < 0.5
        got = opcore.where(opcore.constant(c))
        n = int(np.sum(c))
        assert got.dtype is opcore.int64 and got.shape == Shape([n, len(shape)])
        assert np.array_equal(got.numpy(), np.argwhere(np.asarray(c)).reshape(n, len(shape)))
    # Numbers count as true when nonzero (NaN too, -0.0 not), as TensorFlow's Where does.
    x = np.array([[0.0, np.nan], [-0.0, 2.5]], np.float32)
    assert opcore.where(x).numpy().tolist() == np.argwhere(x).tolist() == [[0, 1], [1, 1]]


def test_where_with_three_arguments_still_selects_and_differentiates() -> None:
    c = opcore.constant([True, False, True])
    x, y = opcore.constant([1.0, 2.0, 3.0]), opcore.constant([10.0, 20.0, 30.0])
    with opcore.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        z = opcore.where(c, x, y)
    assert z.numpy().tolist() == [1.0, 20.0, 3.0]
    assert tape.gradient(z, x).numpy().tolist() == [1.0, 0.0, 1.0]
    assert tape.gradient(z, y).numpy().tolist() == [0.0, 1.0, 0.0]
    assert opcore.where(c, 1, 0).numpy().tolist() == [1, 0, 1]
    with pytest.raises(OpDefinitionError, match="both x and y"):
        opcore.where(c, x)
    with pytest.raises(OpDefinitionError, match="only y"):
        opcore.where(c, y=y)


def _first_occurrence_unique(values: list[Any]) -> tuple[list[Any], list[int]]:
    ys: list[Any] = []
    idx: list[int] = []
    for v in values:
        hit = next((j for j, u in enumerate(ys) if u == v), None)
        if hit is None:
            hit = len(ys)
            ys.append(v)
        idx.append(hit)
    return ys, idx


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64", "bool", "uint8"])
def test_unique_keeps_the_order_of_first_occurrence(dtype: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 6, 40).astype(dtype)
    y, idx = opcore.unique(opcore.constant(x))
    want_y, want_idx = _first_occurrence_unique(x.tolist())
    assert y.numpy().tolist() == want_y and idx.numpy().tolist() == want_idx
    assert y.dtype.name == dtype and idx.dtype is opcore.int32
    assert np.array_equal(y.numpy()[idx.numpy()], x)  # gather(y, idx) rebuilds x
    assert sorted(y.numpy().tolist()) == np.unique(x).tolist()


def test_unique_compares_like_tensorflow_and_names_its_outputs() -> None:
    x = np.array([np.nan, 0.0, -0.0, np.nan, 1.0, 0.0], np.float32)
    r = opcore.unique(x, out_idx=opcore.int64)
    assert r.idx.dtype is opcore.int64 and r.idx.numpy().tolist() == [0, 1, 1, 2, 3, 1]
    y = r.y.numpy()
    assert np.isnan(y[0]) and np.isnan(y[2]) and y[[1, 3]].tolist() == [0.0, 1.0]  # every NaN is its own value
    assert math.copysign(1.0, y[1]) == 1.0  # 0.0 came first; -0.0 joins it
    empty = opcore.unique(np.zeros(0, np.float32))
    assert empty.y.shape == Shape([0]) and empty.idx.shape == Shape([0])
    with pytest.raises(ShapeError, match=r"Unique: input 'x' must be a 1-D vector, got shape \(2, 2\)"):
        opcore.unique(np.zeros((2, 2)))
    with pytest.raises(DTypeError, match="Unique: out_idx must be int32 or int64"):
        opcore.unique([1, 2], out_idx="float32")


def test_setdiff1d_keeps_order_and_repeats_and_never_finds_a_nan() -> None:
    rng = np.random.default_rng(3)
    for dtype in ("int32", "float64", "int8"):
        x = rng.integers(-3, 5, 30).astype(dtype)
        y = rng.integers(-3, 5, 4).astype(dtype)
        out, idx = opcore.setdiff1d(x, y, index_dtype="int64")
        keep = [i for i, v in enumerate(x.tolist()) if v not in y.tolist()]
        assert idx.numpy().tolist() == keep and idx.dtype is opcore.int64
        assert out.numpy().tolist() == x[keep].tolist() and out.dtype.name == dtype
    x = np.array([np.nan, 1.0, -0.0, 2.0], np.float32)
    out, idx = opcore.setdiff1d(x, np.array([np.nan, 0.0, 2.0], np.float32))
    assert idx.numpy().tolist() == [0, 1] and np.isnan(out.numpy()[0])
    with pytest.raises(ShapeError, match="ListDiff: input 'y' must be a 1-D vector"):
        opcore.setdiff1d([1, 2], 3)


def test_the_docstring_examples_run() -> None:
    for module in (selection, math_ops):
        result = doctest.testmod(module, extraglobs={"opcore": opcore}, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# --------------------------------------------------------------------------- gradients


def _finite_differences(f: Any, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up.reshape(-1)[i] += eps
        down.reshape(-1)[i] -= eps
        out.reshape(-1)[i] = (f(up) - f(down)) / (2 * eps)
    return out


def test_boolean_mask_gradient_scatters_back_and_matches_finite_differences() -> None:
    rng = np.random.default_rng(4)
    t = rng.standard_normal((3, 4, 2))
    mask = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
    w = rng.standard_normal((int(mask.sum()), 2))
    tt = opcore.constant(t)
    with opcore.GradientTape() as tape:
        tape.watch(tt)
        loss = opcore.reduce_sum(opcore.boolean_mask(tt, mask) ** 2 * w)
    grad = tape.gradient(loss, tt).numpy()
    numeric = _finite_differences(lambda v: float(np.sum(v[mask] ** 2 * w)), t)
    assert np.allclose(grad, numeric, atol=1e-6)
    assert np.all(grad[~mask] == 0)


def test_boolean_mask_second_derivative_goes_through_its_gradient_op() -> None:
    t = opcore.constant([1.0, 2.0, 3.0, 4.0], dtype=opcore.float64)
    mask = opcore.constant([True, False, True, False])
    with opcore.GradientTape() as outer:
        outer.watch(t)
        with opcore.GradientTape() as inner:
            inner.watch(t)
            loss = opcore.reduce_sum(opcore.boolean_mask(t, mask) ** 3)
        g = inner.gradient(loss, t)  # 3 t^2 where the mask is true
        second = outer.gradient(opcore.reduce_sum(g), t)  # 6 t there
    assert g.numpy().tolist() == [3.0, 0.0, 27.0, 0.0]
    assert second.numpy().tolist() == [6.0, 0.0, 18.0, 0.0]


def test_unique_gradient_is_exact_for_distinct_values_and_shared_among_ties() -> None:
    rng = np.random.default_rng(5)
    x = rng.permutation(6).astype(np.float64) + rng.uniform(-0.1, 0.1, 6)
    w = rng.standard_normal(6)
    xt = opcore.constant(x)
    with opcore.GradientTape() as tape:
        tape.watch(xt)
        loss = opcore.reduce_sum(opcore.unique(xt).y * w)
    numeric = _finite_differences(lambda v: float(np.sum(np.array(_first_occurrence_unique(v.tolist())[0]) * w)), x)
    assert np.allclose(tape.gradient(loss, xt).numpy(), numeric, atol=1e-6)

    ties = opcore.constant([2.0, 5.0, 2.0, 2.0, 7.0, 5.0], dtype=opcore.float64)
    with opcore.GradientTape() as tape:
        tape.watch(ties)
        y, _ = opcore.unique(ties)
        loss = opcore.reduce_sum(y * opcore.constant([3.0, 10.0, 100.0], dtype=opcore.float64))
    # y[j] stands for each of its k copies: each gets 1/k of dy[j] (the sum over copies is dy[j]).
    assert tape.gradient(loss, ties).numpy().tolist() == [1.0, 5.0, 1.0, 1.0, 100.0, 5.0]


def test_ops_without_a_gradient_give_none_not_an_error() -> None:
    x = opcore.constant([1.0, 0.0, 2.0])
    with opcore.GradientTape(persistent=True) as tape:
        tape.watch(x)
        coords = opcore.where(x)
        out, _ = opcore.setdiff1d(x, [2.0])
    assert tape.gradient(coords, x) is None and tape.gradient(out, x) is None


def test_graph_gradients_through_boolean_mask_and_unique_run_with_unknown_sizes() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float64, [None, 3])
        m = opcore.placeholder(opcore.bool_, [None])
        masked = opcore.boolean_mask(x, m)
        y, _ = opcore.unique(opcore.reshape(masked, [-1]))
        loss = opcore.reduce_sum(masked**2) + opcore.reduce_sum(y)
        (dx,) = opcore.gradients(loss, [x])
    assert masked.shape == Shape([None, 3]) and y.shape == Shape([None]) and dx.shape == Shape([None, 3])
    rng = np.random.default_rng(6)
    with opcore.Session(graph=g) as sess:
        for n in (2, 5, 4):
            xv = rng.permutation(3 * n).reshape(n, 3).astype(np.float64)  # distinct values
            mv = rng.random(n) < 0.6
            got = sess.run(dx, {x: xv, m: mv})
            want = np.where(mv[:, None], 2 * xv + 1, 0.0)
            assert np.array_equal(got, want)


def test_assigning_a_value_whose_shape_is_known_only_at_run_time_checks_it_then() -> None:
    g = opcore.Graph()
    with g.as_default():
        v = opcore.Variable(np.zeros(2), name="v")
        x = opcore.placeholder(opcore.float64, [None])
        update = v.assign(opcore.boolean_mask(x, x > 0))
        fed = v.assign(x)
    with opcore.Session(graph=g) as sess:
        sess.run(v.initializer)
        assert sess.run(update, {x: [1.0, -1.0, 2.0]}).tolist() == [1.0, 2.0]
        with pytest.raises(ShapeError, match=r"shape \(3,\) to variable 'v' of shape \(2,\)"):
            sess.run(update, {x: [1.0, 3.0, 2.0]})
        with pytest.raises(ShapeError, match=r"shape \(1,\) to variable 'v'"):
            sess.run(fed, {x: [1.0]})
        assert sess.run(v).tolist() == [1.0, 2.0]  # the failed runs left it alone


def test_a_saved_graph_with_value_dependent_ops_loads_and_runs() -> None:
    from opcore.io import export_graph, import_graph

    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None], name="x")
        opcore.unique(opcore.boolean_mask(x, x > 0), out_idx=opcore.int64, name="u")
        opcore.where(x > 1, name="w")
        opcore.setdiff1d(x, [1.0], name="d")
    loaded = import_graph(*export_graph(g))
    fetch = [loaded.get_tensor_by_name(n) for n in ("u:0", "u:1", "w:0", "d:0", "d:1")]
    assert fetch[0].shape == Shape([None]) and fetch[2].shape == Shape([None, 1])
    with opcore.Session(loaded) as sess:
        y, idx, w, out, pos = sess.run(fetch, {loaded.get_tensor_by_name("x:0"): [1.0, 2.0, -1.0, 2.0, 3.0]})
    assert y.tolist() == [1.0, 2.0, 3.0] and idx.tolist() == [0, 1, 1, 2] and idx.dtype == np.int64
    assert w.tolist() == [[1], [3], [4]] and out.tolist() == [2.0, -1.0, 2.0, 3.0] and pos.tolist() == [1, 2, 3, 4]
