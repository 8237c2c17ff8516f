"""NumPy kernels: fused optimizer updates (train family).

Each kernel is one vectorised NumPy expression per output, returning new
arrays. With ``ctx.inplace`` (the optimizer gave up the variable's and its
slots' buffers, see the ops' ``aliases``) the float32 and float64 kernels
instead write the new values into those buffers with ``out=`` ufuncs and one
scratch array kept in the context's memo, so a step allocates nothing. Adam
does the same on copies when it cannot write in place (a graph's update op),
and splits large variables into blocks run on several threads.
Hyperparameters arrive as 0-d arrays.
float16 is computed in float32 and rounded once at the end, as in the nn
family, so the many small steps of an update do not each lose precision.
"""

from __future__ import annotations

import threading

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_numpy.kernels import _parallel

KERNELS = KernelTable()


def _work(x: np.ndarray) -> np.ndarray:
    """``x`` in the dtype to compute in (float16 is widened to float32)."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _scratch(ctx: KernelContext, like: np.ndarray) -> np.ndarray:
    """A work array shaped like ``like``, kept with the plan's context, one per thread."""
    per_thread = ctx.memo.get("scratch")
    if per_thread is None:
        per_thread = ctx.memo.setdefault("scratch", threading.local())
    buf: np.ndarray | None = getattr(per_thread, "buf", None)
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
        buf = per_thread.buf = np.empty_like(like)
    return buf


def _in_place(ctx: KernelContext, var: np.ndarray) -> bool:
    return ctx.inplace and var.dtype != np.float16 and var.flags.writeable


def _out(ctx: KernelContext, value: np.ndarray, i: int = 0) -> np.ndarray:
    return np.asarray(value, dtype=ctx.out_dtypes[i].np).reshape(ctx.out_shapes[i])


@KERNELS.kernel("ApplyGradientDescent")
def apply_gradient_descent(ctx: KernelContext, var: np.ndarray, alpha: np.ndarray, delta: np.ndarray) -> np.ndarray:
    if _in_place(ctx, var):
        t = _scratch(ctx, var)
        np.multiply(delta, alpha, out=t)
        var -= t
        return var
    return _out(ctx, _work(var) - _work(alpha) * _work(delta))


@KERNELS.kernel("ApplyMomentum")
def apply_momentum(
    ctx: KernelContext, var: np.ndarray, accum: np.ndarray, lr: np.ndarray, grad: np.ndarray, momentum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if _in_place(ctx, var):
        accum *= momentum
        accum += grad
        t = _scratch(ctx, var)
        if ctx.attrs["use_nesterov"]:
            np.multiply(accum, momentum, out=t)
            t += grad
            t *= lr
        else:
            np.multiply(accum, lr, out=t)
        var -= t
        return var, accum
    v, a, lr_, g, mu = _work(var), _work(accum), _work(lr), _work(grad), _work(momentum)
    a_new = mu * a + g
    v_new = v - (lr_ * g + lr_ * mu * a_new) if ctx.attrs["use_nesterov"] else v - lr_ * a_new
    return _out(ctx, v_new, 0), _out(ctx, a_new, 1)


@KERNELS.kernel("ApplyAdagrad")
def apply_adagrad(
    ctx: KernelContext, var: np.ndarray, accum: np.ndarray, lr: np.ndarray, grad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    g = _work(grad)
    a_new = _work(accum) + g * g
    return _out(ctx, _work(var) - _work(lr) * g / np.sqrt(a_new), 0), _out(ctx, a_new, 1)


@KERNELS.kernel("ApplyAdadelta")
def apply_adadelta(
    ctx: KernelContext,
    var: np.ndarray,
    accum: np.ndarray,
    accum_update: np.ndarray,
    lr: np.ndarray,
    rho: np.ndarray,
    epsilon: np.ndarray,
    grad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g, r, eps = _work(grad), _work(rho), _work(epsilon)
    a_new = r * _work(accum) + (1 - r) * g * g
    u = _work(accum_update)
    update = np.sqrt(u + eps) / np.sqrt(a_new + eps) * g
    u_new = r * u + (1 - r) * update * update
    v_new = _work(var) - _work(lr) * update
    return _out(ctx, v_new, 0), _out(ctx, a_new, 1), _out(ctx, u_new, 2)


@KERNELS.kernel("ApplyRMSProp")
def apply_rms_prop(
    ctx: KernelContext,
    var: np.ndarray,
    ms: np.ndarray,
    mom: np.ndarray,
    lr: np.ndarray,
    rho: np.ndarray,
    momentum: np.ndarray,
    epsilon: np.ndarray,
    grad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if _in_place(ctx, var):
        t = _scratch(ctx, var)
        np.multiply(grad, grad, out=t)
        t *= 1 - rho
        ms *= rho
        ms += t
        np.add(ms, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= lr
        mom *= momentum
        mom += t
        var -= mom
        return var, ms, mom
    g, r = _work(grad), _work(rho)
    ms_new = r * _work(ms) + (1 - r) * g * g
    mom_new = _work(momentum) * _work(mom) + _work(lr) * g / np.sqrt(ms_new + _work(epsilon))
    return _out(ctx, _work(var) - mom_new, 0), _out(ctx, ms_new, 1), _out(ctx, mom_new, 2)


def _adam_in_place(
    var: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    grad: np.ndarray,
    t: np.ndarray,
    lr_t: np.ndarray,
    beta1: np.ndarray,
    beta2: np.ndarray,
    epsilon: np.ndarray,
    nesterov: bool,
) -> None:
    """One Adam step written into ``var``, ``m`` and ``v``, with ``t`` as scratch."""
    np.multiply(grad, 1 - beta1, out=t)
    m *= beta1
    m += t
    np.multiply(grad, grad, out=t)
    t *= 1 - beta2
    v *= beta2
    v += t
    np.sqrt(v, out=t)
    t += epsilon
    if nesterov:
        np.divide(grad, t, out=t)
        t *= 1 - beta1
        t += beta1 * m / (np.sqrt(v) + epsilon)
    else:
        np.divide(m, t, out=t)
    t *= lr_t
    var -= t


@KERNELS.kernel("ApplyAdam")
def apply_adam(
    ctx: KernelContext,
    var: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    beta1_power: np.ndarray,
    beta2_power: np.ndarray,
    lr: np.ndarray,
    beta1: np.ndarray,
    beta2: np.ndarray,
    epsilon: np.ndarray,
    grad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if var.dtype != np.float16:
        # In the buffers the optimizer gave up (eagerly), else in fresh copies (a graph's
        # update op): the same passes either way, and no temporaries.
        if not _in_place(ctx, var):
            var, m, v = (np.array(b, order="C", copy=True) for b in (var, m, v))
        lr_t = lr * np.sqrt(1 - beta2_power) / (1 - beta1_power)
        nesterov = ctx.attrs["use_nesterov"]
        buffers = (var, m, v, grad, _scratch(ctx, var))
        if all(b.flags.c_contiguous for b in buffers):  # large variables: blocks on several threads
            flat = [b.reshape(-1) for b in buffers]

            def block(lo: int, hi: int) -> None:
                _adam_in_place(*(f[lo:hi] for f in flat), lr_t, beta1, beta2, epsilon, nesterov)

            _parallel.run(block, _parallel.row_ranges(var.size, var.size))
        else:
            _adam_in_place(*buffers, lr_t, beta1, beta2, epsilon, nesterov)
        return var, m, v
    g, b1, b2 = _work(grad), _work(beta1), _work(beta2)
    lr_t = _work(lr) * np.sqrt(1 - _work(beta2_power)) / (1 - _work(beta1_power))
    m_new = b1 * _work(m) + (1 - b1) * g
    v_new = b2 * _work(v) + (1 - b2) * g * g
    direction = b1 * m_new + (1 - b1) * g if ctx.attrs["use_nesterov"] else m_new
    var_new = _work(var) - lr_t * direction / (np.sqrt(v_new) + _work(epsilon))
    return _out(ctx, var_new, 0), _out(ctx, m_new, 1), _out(ctx, v_new, 2)
