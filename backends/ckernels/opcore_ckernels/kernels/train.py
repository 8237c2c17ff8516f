"""OpenCL kernels: fused optimizer updates (train family).

Each op is one generated kernel with one expression per output
(the new variable and its new slots), so an update reads every tensor once
and writes every result once. Hyperparameters are 0-d inputs, read as
scalars by the kernel. float16 is computed in float32 and rounded once at
the end, as the NumPy backend does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore.registry import KernelTable, get_registry
from opcore_ckernels.source import ctype

KERNELS = KernelTable()


def _fused(ctx: Any, inputs: Sequence[Any], names: Sequence[str], steps: Sequence[str], outs: Sequence[str]) -> Any:
    """One kernel computing every output of an update; returns one array or a tuple of them.

    ``steps`` are C statements over the inputs, bound to ``names`` in the
    working type ``W``; ``outs`` are the expressions stored in the outputs.
    The shape function made the tensors share the output's shape and the
    hyperparameters 0-d, so a tensor is read at ``i`` and a scalar at 0:
    no broadcasting is needed.
    """
    rt = ctx.backend.runtime
    shape = tuple(ctx.out_shapes[0])
    t = ctype(ctx.out_dtypes[0].np)
    if ctx.inplace:
        # The caller gave up the variable's and its slots' buffers (the op's aliases):
        # each work item reads its element of every input before writing its outputs,
        # so the new values can go straight into those buffers.
        aliased = _aliased_inputs(ctx)
        results = [inputs[j] if j is not None else rt.empty(shape, d.np) for j, d in zip(aliased, ctx.out_dtypes)]
    else:
        results = [rt.empty(shape, d.np) for d in ctx.out_dtypes]
    n = int(results[0].size)
    if n == 0:
        return results[0] if len(results) == 1 else tuple(results)
    # Whether each input is a tensor (read at i) or a scalar (read at 0).
    tensor = tuple(x.size == n and x.ndim > 0 for x in inputs)

    def source() -> str:
        work = "float" if t == "half" else t
        params = [f"__global {t}* out{k}" for k in range(len(outs))]
        params += [f"__global const {t}* in_{name}" for name in names]
        body = [f"const W {name} = (W)in_{name}[{'i' if is_t else '0'}];" for name, is_t in zip(names, tensor)]
        body += list(steps)
        body += [f"out{k}[i] = ({t})({e});" for k, e in enumerate(outs)]
        return (
            f"#define W {work}\n__kernel void update({', '.join(params)}, const long n) {{\n"
            "  const long i = get_global_id(0); if (i >= n) return;\n  " + "\n  ".join(body) + "\n}\n"
        )

    key = ("update", t, tuple(names), tuple(steps), tuple(outs), tensor)
    args = [r.data for r in results] + [x.data for x in inputs] + [np.int64(n)]
    rt.launch(rt.kernel(key, source, "update"), (n,), args)
    return results[0] if len(results) == 1 else tuple(results)


def _aliased_inputs(ctx: Any) -> list[int | None]:
    """For each output, the index of the input whose buffer it may take (the op's aliases)."""
    found: list[int | None] | None = ctx.memo.get("aliased")
    if found is None:
        op = get_registry().ops[ctx.op]
        names = [a.name for a in op.inputs]
        found = [names.index(op.aliases[o.name]) if o.name in op.aliases else None for o in op.outputs]
        ctx.memo["aliased"] = found
    return found


@KERNELS.kernel("ApplyGradientDescent")
def apply_gradient_descent(ctx: Any, var: Any, alpha: Any, delta: Any) -> Any:
    return _fused(ctx, [var, alpha, delta], ["v_", "alpha_", "delta_"], [], ["v_ - alpha_ * delta_"])


@KERNELS.kernel("ApplyMomentum")
def apply_momentum(ctx: Any, var: Any, accum: Any, lr: Any, grad: Any, momentum: Any) -> Any:
    names = ["v_", "acc_", "lr_", "g_", "mu_"]
    steps = ["const W acc1 = mu_ * acc_ + g_;"]
    if ctx.attrs["use_nesterov"]:
        steps.append("const W v1 = v_ - (lr_ * g_ + lr_ * mu_ * acc1);")
    else:
        steps.append("const W v1 = v_ - lr_ * acc1;")
    return _fused(ctx, [var, accum, lr, grad, momentum], names, steps, ["v1", "acc1"])


@KERNELS.kernel("ApplyAdagrad")
def apply_adagrad(ctx: Any, var: Any, accum: Any, lr: Any, grad: Any) -> Any:
    names = ["v_", "acc_", "lr_", "g_"]
    steps = ["const W acc1 = acc_ + g_ * g_;", "const W v1 = v_ - lr_ * g_ / sqrt(acc1);"]
    return _fused(ctx, [var, accum, lr, grad], names, steps, ["v1", "acc1"])


@KERNELS.kernel("ApplyAdadelta")
def apply_adadelta(
    ctx: Any, var: Any, accum: Any, accum_update: Any, lr: Any, rho: Any, epsilon: Any, grad: Any
) -> Any:
    names = ["v_", "acc_", "upd_", "lr_", "rho_", "eps_", "g_"]
    steps = [
        "const W acc1 = rho_ * acc_ + ((W)1 - rho_) * g_ * g_;",
        "const W step = sqrt(upd_ + eps_) / sqrt(acc1 + eps_) * g_;",
        "const W upd1 = rho_ * upd_ + ((W)1 - rho_) * step * step;",
        "const W v1 = v_ - lr_ * step;",
    ]
    return _fused(ctx, [var, accum, accum_update, lr, rho, epsilon, grad], names, steps, ["v1", "acc1", "upd1"])


@KERNELS.kernel("ApplyRMSProp")
def apply_rms_prop(
    ctx: Any, var: Any, ms: Any, mom: Any, lr: Any, rho: Any, momentum: Any, epsilon: Any, grad: Any
) -> Any:
    names = ["v_", "ms_", "mom_", "lr_", "rho_", "mu_", "eps_", "g_"]
    steps = [
        "const W ms1 = rho_ * ms_ + ((W)1 - rho_) * g_ * g_;",
        "const W mom1 = mu_ * mom_ + lr_ * g_ / sqrt(ms1 + eps_);",
    ]
    return _fused(ctx, [var, ms, mom, lr, rho, momentum, epsilon, grad], names, steps, ["v_ - mom1", "ms1", "mom1"])


@KERNELS.kernel("ApplyAdam")
def apply_adam(
    ctx: Any,
    var: Any,
    m: Any,
    v: Any,
    beta1_power: Any,
    beta2_power: Any,
    lr: Any,
    beta1: Any,
    beta2: Any,
    epsilon: Any,
    grad: Any,
) -> Any:
    names = ["var_", "m_", "v_", "b1p_", "b2p_", "lr_", "b1_", "b2_", "eps_", "g_"]
    direction = "b1_ * m1 + ((W)1 - b1_) * g_" if ctx.attrs["use_nesterov"] else "m1"
    steps = [
        "const W lr_t = lr_ * sqrt((W)1 - b2p_) / ((W)1 - b1p_);",
        "const W m1 = b1_ * m_ + ((W)1 - b1_) * g_;",
        "const W v1 = b2_ * v_ + ((W)1 - b2_) * g_ * g_;",
        f"const W var1 = var_ - lr_t * ({direction}) / (sqrt(v1) + eps_);",
    ]
    inputs = [var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad]
    return _fused(ctx, inputs, names, steps, ["var1", "m1", "v1"])
