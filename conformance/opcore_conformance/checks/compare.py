"""How a result is judged: dtype-aware comparison with a reference, and the failure a check raises."""

from __future__ import annotations

import math
import traceback

import numpy as np

#: (rtol, atol) for comparing a dtype's results with the float64 reference.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (5e-3, 5e-3),
    "float32": (2e-5, 1e-6),
    "float64": (1e-10, 1e-12),
}


class CheckFailure(AssertionError):
    """A conformance check failed; carries the numbers and a reproduction snippet."""

    def __init__(
        self,
        message: str,
        *,
        check: str,
        max_abs: float = math.nan,
        max_rel: float = math.nan,
        tolerance: str = "",
        shapes: str = "",
        repro: str = "",
        traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.check = check
        self.max_abs = max_abs
        self.max_rel = max_rel
        self.tolerance = tolerance
        self.shapes = shapes
        self.repro = repro
        self.traceback = traceback

    @classmethod
    def crashed(cls, message: str, exc: BaseException, *, check: str, shapes: str, repro: str) -> CheckFailure:
        """A failure for code that raised ``exc``, keeping the last frames of its traceback."""
        frames = "".join(traceback.format_exception(exc)[-6:])
        return cls(message, check=check, shapes=shapes, repro=repro, traceback=frames)


class MissingKernel(CheckFailure):
    """The op, or an op it is built from, has no kernel on the backend (KernelNotFoundError)."""


def compare(actual: np.ndarray, expected: np.ndarray, dtype: str, scale: float) -> tuple[bool, float, float, str]:
    """Compare with dtype-aware tolerances; NaN matches NaN and infinities must match exactly."""
    a = np.asarray(actual)
    e = np.asarray(expected)
    if a.shape != e.shape:
        return False, math.inf, math.inf, "shape"
    if a.dtype.kind not in "fc" or dtype not in TOLERANCES:
        same = np.array_equal(a, e.astype(a.dtype) if e.dtype != a.dtype else e)
        diff = 0.0 if same else float(np.max(np.abs(a.astype(np.float64) - e.astype(np.float64)))) if a.size else 0.0
        return bool(same), diff, diff, "exact"
    rtol, atol = TOLERANCES[dtype]
    rtol, atol = rtol * scale, atol * scale
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if dtype == "float16":
        # A float16 result is at best the float64 value rounded to float16.
        e64 = e64.astype(np.float16).astype(np.float64)
    both_nan = np.isnan(a64) & np.isnan(e64)
    inf = np.isinf(e64) | np.isinf(a64)
    inf_ok = ~inf | (a64 == e64)
    finite = ~both_nan & ~inf
    with np.errstate(all="ignore"):
        err = np.where(finite, np.abs(a64 - e64), 0.0)
        rel = np.where(finite & (e64 != 0), err / np.abs(e64), 0.0)
    ok = bool(
        np.all(inf_ok)
        and np.all(both_nan | inf | (err <= atol + rtol * np.abs(e64)))
        and not np.any(np.isnan(a64) & ~np.isnan(e64))
    )
    return ok, float(err.max(initial=0.0)), float(rel.max(initial=0.0)), f"rtol={rtol:g}, atol={atol:g}"


def worst_element(actual: np.ndarray, expected: np.ndarray) -> str:
    """Where two same-shaped arrays differ most: ``"at index (1, 2): expected 0.5, got 0.49"``."""
    a = np.asarray(actual).astype(np.float64)
    e = np.asarray(expected).astype(np.float64)
    if a.shape != e.shape or a.size == 0:
        return ""
    with np.errstate(all="ignore"):
        err = np.abs(a - e)
    # A NaN or an infinity where the other side has a finite value is the worst kind of difference.
    err = np.where(np.isnan(a) != np.isnan(e), np.inf, err)
    err = np.where(np.isnan(err), 0.0, err)
    idx = np.unravel_index(int(np.argmax(err)), a.shape)
    where = tuple(int(i) for i in idx)
    # Integers (an index, a count) read as integers.
    want, got = (np.asarray(v)[where].item() if np.asarray(v).dtype.kind in "iub" else w[where].item()
                 for v, w in ((expected, e), (actual, a)))  # fmt: skip
    return f"at index {where}: expected {want!r}, got {got!r}"
