"""Data-parallel training: :class:`DistributedOptimizer`, :class:`DistributedGradientTape` and gradient compression."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opcore import dtypes as _dt
from opcore.autodiff import GradientTape
from opcore.distributed import _world
from opcore.distributed._collectives import Average, Sum, check_reduction, grouped_allreduce, mark_reduced, was_reduced
from opcore.distributed._errors import DistributedError
from opcore.ops.math import cast
from opcore.train import optimizers as _optimizers
from opcore.train.optimizer import Optimizer

__all__ = ["Compression", "DistributedGradientTape", "DistributedOptimizer", "reduce_gradients"]


class _NoCompression:
    """Gradients travel in their own dtype."""

    def compress(self, tensor: Any) -> tuple[Any, Any]:
        return tensor, None

    def decompress(self, tensor: Any, ctx: Any) -> Any:
        return tensor

    def __repr__(self) -> str:
        return "Compression.none"


class _FP16Compression:
    """float32 and float64 gradients travel as float16 (half the bytes) and come back in their dtype."""

    def compress(self, tensor: Any) -> tuple[Any, Any]:
        dtype = tensor.dtype
        if dtype in (_dt.float32, _dt.float64):
            return cast(tensor, _dt.float16), dtype
        return tensor, None

    def decompress(self, tensor: Any, ctx: Any) -> Any:
        return tensor if ctx is None else cast(tensor, ctx)

    def __repr__(self) -> str:
        return "Compression.fp16"


class Compression:
    """How gradients travel: ``Compression.none`` (as they are) or ``Compression.fp16`` (as float16)."""

    none = _NoCompression()
    fp16 = _FP16Compression()


def reduce_gradients(grads: Sequence[Any], op: str = Average, compression: Any = Compression.none) -> list[Any]:
    """Reduce ``grads`` over the ranks (None stays None), compressed on the way; the results are marked reduced."""
    live = [i for i, g in enumerate(grads) if g is not None]
    out = list(grads)
    if not live:
        return out
    packed = [compression.compress(grads[i]) for i in live]
    reduced = grouped_allreduce([t for t, _ in packed], op, name="DistributedGradients")
    restored = [compression.decompress(r, c) for r, (_, c) in zip(reduced, packed)]
    mark_reduced(restored)
    for i, r in zip(live, restored):
        out[i] = r
    return out


def _check_compression(compression: Any) -> Any:
    if not (hasattr(compression, "compress") and hasattr(compression, "decompress")):
        raise DistributedError(
            f"compression must be Compression.none, Compression.fp16 or an object with compress() and "
            f"decompress(), got {compression!r}"
        )
    return compression


class DistributedOptimizer(Optimizer):
    """Wraps any optimizer so that every rank applies the gradients averaged over all ranks.

    Horovod's ``hvd.DistributedOptimizer``: ``compute_gradients`` returns the
    reduced gradients; ``apply_gradients`` reduces the gradients it is given
    unless they already are (so ``minimize``, Keras ``fit`` and an eager loop
    ``opt.apply_gradients(zip(tape.gradient(loss, vars), vars))`` all reduce
    exactly once), then lets the wrapped optimizer update the variables. The
    gradients of each dtype travel in few fused collectives.

    ``op`` is :data:`~opcore.distributed.Average` (the default) or
    :data:`~opcore.distributed.Sum`; ``compression=Compression.fp16`` sends
    float gradients as float16. A gradient that was changed after reduction
    (clipped) is reduced again: with ``Average`` that keeps equal values equal.

    In a graph::

        hvd.init()
        opt = hvd.DistributedOptimizer(opcore.train.AdamOptimizer(0.001))
        train_op = opt.minimize(loss)
    """

    def __init__(
        self,
        optimizer: Any,
        *,
        op: str = Average,
        compression: Any = Compression.none,
        name: str | None = None,
    ) -> None:
        _world.initialized_world("DistributedOptimizer")
        inner = _optimizers.get(optimizer) if isinstance(optimizer, (str, Mapping)) else optimizer
        if not isinstance(inner, Optimizer):
            raise DistributedError(
                f"DistributedOptimizer wraps an opcore optimizer (opcore.train.AdamOptimizer(...), 'adam'), got "
                f"{type(optimizer).__name__}"
            )
        if isinstance(inner, DistributedOptimizer):
            raise DistributedError("this optimizer is already a DistributedOptimizer; wrap the plain optimizer once")
        self._optimizer = inner
        self._op = check_reduction(op, "DistributedOptimizer", (Average, Sum))
        self._compression = _check_compression(compression)
        super().__init__(inner.learning_rate, name or f"Distributed{inner.name}")

    @property
    def optimizer(self) -> Optimizer:
        """The wrapped optimizer."""
        return self._optimizer

    @property
    def learning_rate(self) -> Any:
        return self._optimizer.learning_rate

    @property
    def iterations(self) -> Any:
        return self._optimizer.iterations

    def compute_gradients(
        self, loss: Any, var_list: Sequence[Any] | None = None, tape: GradientTape | None = None
    ) -> list[tuple[Any, Any]]:
        """The wrapped optimizer's gradients, reduced over the ranks, as ``[(grad, var), ...]``."""
        pairs = self._optimizer.compute_gradients(loss, var_list, tape)
        grads = reduce_gradients([g for g, _ in pairs], self._op, self._compression)
        return [(g, v) for g, (_, v) in zip(grads, pairs)]

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[Any, Any]], global_step: Any = None, name: str | None = None
    ) -> Any:
        """Reduce the gradients that are not reduced yet, then apply them with the wrapped optimizer."""
        pairs = list(grads_and_vars)
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"{self.name}: apply_gradients takes (gradient, variable) pairs, got {pair!r}")
        todo = [i for i, (g, _) in enumerate(pairs) if g is not None and not was_reduced(g)]
        if todo:
            reduced = reduce_gradients([pairs[i][0] for i in todo], self._op, self._compression)
            for i, g in zip(todo, reduced):
                pairs[i] = (g, pairs[i][1])
        return self._optimizer.apply_gradients(pairs, global_step=global_step, name=name)

    def get_slot(self, var: Any, name: str) -> Any:
        return self._optimizer.get_slot(var, name)

    def get_slot_names(self) -> list[str]:
        return self._optimizer.get_slot_names()

    def variables(self) -> list[Any]:
        return self._optimizer.variables()

    def get_config(self) -> dict[str, Any]:
        """The wrapped optimizer's config (a checkpoint holds the same variables as without the wrapper)."""
        return self._optimizer.get_config()

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self._optimizer!r}, op={self._op!r}, compression={self._compression!r})"


class DistributedGradientTape:
    """A :class:`~opcore.GradientTape` whose ``gradient`` returns gradients reduced over the ranks.

    Horovod's ``hvd.DistributedGradientTape``, for eager loops with a plain optimizer::

        with opcore.GradientTape() as tape:
            loss = loss_fn(model(x), y)
        tape = hvd.DistributedGradientTape(tape)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))

    Everything else (``watch``, ``with``) is the wrapped tape's.
    """

    def __init__(self, tape: GradientTape, *, op: str = Average, compression: Any = Compression.none) -> None:
        _world.initialized_world("DistributedGradientTape")
        if not isinstance(tape, GradientTape):
            raise DistributedError(f"DistributedGradientTape wraps an opcore.GradientTape, got {type(tape).__name__}")
        self._tape = tape
        self._op = check_reduction(op, "DistributedGradientTape", (Average, Sum))
        self._compression = _check_compression(compression)

    def __enter__(self) -> DistributedGradientTape:
        self._tape.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._tape.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tape, name)

    def gradient(
        self, target: Any, sources: Any, output_gradients: Any = None, unconnected_gradients: str = "none"
    ) -> Any:
        """The tape's gradients of ``target`` with respect to ``sources`` (same structure), reduced over the ranks."""
        grads = self._tape.gradient(target, sources, output_gradients, unconnected_gradients)
        flat: list[Any] = []
        _flatten(grads, flat)
        reduced = iter(reduce_gradients(flat, self._op, self._compression))
        return _rebuild(grads, reduced)


def _flatten(value: Any, out: list[Any]) -> None:
    if isinstance(value, (list, tuple)):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out)
    else:
        out.append(value)


def _rebuild(value: Any, it: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_rebuild(v, it) for v in value)
    if isinstance(value, dict):
        return {k: _rebuild(v, it) for k, v in value.items()}
    return next(it)
