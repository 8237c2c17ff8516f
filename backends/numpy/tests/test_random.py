"""NumPy-backend tests of the random family: seeding rules, dtypes and interval ends."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from opcore.errors import DTypeError, OpDefinitionError
from opcore.ops import random as rnd


@pytest.fixture(autouse=True)
def _unseeded() -> Iterator[None]:
    rnd.set_seed(None)
    yield
    rnd.set_seed(None)


def test_global_seed_reproduces_a_sequence_of_draws() -> None:
    rnd.set_seed(42)
    first = [rnd.random_uniform([5]).numpy(), rnd.random_normal([5]).numpy(), rnd.truncated_normal([5]).numpy()]
    rnd.set_seed(42)
    again = [rnd.random_uniform([5]).numpy(), rnd.random_normal([5]).numpy(), rnd.truncated_normal([5]).numpy()]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_repeated_calls_under_a_global_seed_differ() -> None:
    rnd.set_seed(1)
    assert not np.array_equal(rnd.random_uniform([8]).numpy(), rnd.random_uniform([8]).numpy())


def test_an_op_seed_alone_is_deterministic() -> None:
    a = rnd.random_normal([6], seed=7).numpy()
    b = rnd.random_normal([6], seed=7).numpy()
    np.testing.assert_array_equal(a, b)
    assert rnd.get_seed(7) == (rnd.DEFAULT_GLOBAL_SEED, 7)


def test_no_seed_at_all_is_nondeterministic() -> None:
    assert not np.array_equal(rnd.random_uniform([8]).numpy(), rnd.random_uniform([8]).numpy())


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_uniform_floats_never_reach_maxval(dtype: str) -> None:
    # A narrow interval far from 0: float16 rounds many values up to maxval unless clipped.
    x = rnd.random_uniform([20000], minval=1000.0, maxval=1001.0, dtype=dtype, seed=3).numpy()
    assert x.dtype == np.dtype(dtype)
    assert x.min() >= 1000.0
    assert x.max() < 1001.0


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_uniform_integers(dtype: str) -> None:
    x = rnd.random_uniform([4000], minval=-3, maxval=4, dtype=dtype, seed=1).numpy()
    assert x.dtype == np.dtype(dtype)
    assert set(np.unique(x).tolist()) == set(range(-3, 4))


def test_uniform_integers_need_whole_bounds_and_a_maxval() -> None:
    with pytest.raises(OpDefinitionError, match="maxval"):
        rnd.random_uniform([2], dtype="int32")
    with pytest.raises(OpDefinitionError, match="minval"):
        rnd.random_uniform([2], minval=0.5, maxval=3, dtype="int64")


def test_uniform_rejects_other_dtypes_and_empty_ranges() -> None:
    with pytest.raises(DTypeError, match="RandomUniform"):
        rnd.random_uniform([2], dtype="bool")
    with pytest.raises(OpDefinitionError, match="minval"):
        rnd.random_uniform([2], minval=1.0, maxval=1.0)


def test_normal_mean_and_stddev() -> None:
    x = rnd.random_normal([20000], mean=3.0, stddev=0.5, dtype="float64", seed=11).numpy()
    assert abs(x.mean() - 3.0) < 0.02
    assert abs(x.std() - 0.5) < 0.02


def test_truncated_normal_stays_within_two_stddevs() -> None:
    x = rnd.truncated_normal([20000], mean=-1.0, stddev=0.1, dtype="float64", seed=12).numpy()
    assert np.abs(x + 1.0).max() <= 0.2 + 1e-12
    assert abs(x.std() - 0.1 * 0.8796) < 0.005


def test_uniform_like_matches_uniform_for_the_same_seeds() -> None:
    from opcore.ops import array

    like = array.zeros([3, 4], dtype="float32")
    a = rnd.random_uniform_like(like, seed=5, seed2=6).numpy()
    b = rnd._RANDOM_UNIFORM(shape=(3, 4), dtype="float32", seed=5, seed2=6).numpy()
    np.testing.assert_array_equal(a, b)
