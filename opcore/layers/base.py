"""The Layer base class, shared by the functional layers and the Keras-style models.

A layer owns variables (created once, in :meth:`Layer.build`, through
``opcore.Variable`` so the same layer works eagerly and while building a
graph) and maps inputs to outputs in :meth:`Layer.call`.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from opcore import _context
from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import OpDefinitionError, ShapeError
from opcore.shapes import Shape, as_shape

__all__ = ["Layer", "checking_weights"]

#: Called with (variable name, shape, dtype) before a layer allocates a weight; may raise to refuse it.
WeightCheck = Callable[[str, tuple[int, ...], DType], None]
_weight_check: ContextVar[WeightCheck | None] = ContextVar("opcore_weight_check", default=None)


@contextlib.contextmanager
def checking_weights(check: WeightCheck) -> Iterator[None]:
    """Inside the block, every :meth:`Layer.add_weight` asks ``check`` before allocating.

    Model loading uses it to refuse weights that the weights file does not
    hold before any memory is allocated for them.
    """
    token = _weight_check.set(check)
    try:
        yield
    finally:
        _weight_check.reset(token)


_counters: defaultdict[str, itertools.count[int]] = defaultdict(itertools.count)


def _default_name(cls: type) -> str:
    # Conv2D -> conv2d, MaxPooling2D -> max_pooling2d, Dense -> dense
    snake = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls.__name__).lower()
    n = next(_counters[snake])
    return snake if n == 0 else f"{snake}_{n}"


def _declared_input_shape(
    who: str, input_shape: Any, batch_input_shape: Any, batch_size: Any, input_dim: Any
) -> tuple[int | None, ...] | None:
    """Keras's ways to declare a layer's inputs, as one batch shape (or None when not declared)."""

    def dims(value: Any, what: str) -> tuple[int | None, ...]:
        items = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
        try:
            out = tuple(items)
        except TypeError:
            out = (object(),)
        if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1) for d in out):
            raise OpDefinitionError(f"{who}: {what} must be a tuple of positive ints or None, got {value!r}")
        return out

    if input_dim is not None:
        if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 1:
            raise OpDefinitionError(f"{who}: input_dim must be a positive int, got {input_dim!r}")
        if input_shape is not None and dims(input_shape, "input_shape") != (input_dim,):
            raise OpDefinitionError(f"{who}: input_dim={input_dim} contradicts input_shape={input_shape!r}")
        input_shape = (input_dim,)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise OpDefinitionError(f"{who}: batch_size must be a positive int, got {batch_size!r}")
    if batch_input_shape is not None:
        if input_shape is not None or batch_size is not None:
            raise OpDefinitionError(
                f"{who}: give batch_input_shape, or input_shape / input_dim (with batch_size), not both"
            )
        batch = dims(batch_input_shape, "batch_input_shape")
        if not batch:
            raise OpDefinitionError(f"{who}: batch_input_shape needs a batch dimension, got {batch_input_shape!r}")
        return batch
    if input_shape is None:
        if batch_size is not None:
            raise OpDefinitionError(f"{who}: batch_size needs input_shape (or input_dim) too")
        return None
    return (batch_size, *dims(input_shape, "input_shape"))


class Layer:
    """Base class: subclasses override :meth:`build`, :meth:`call` and :meth:`get_config`.

    ``layer(x, training=...)`` builds the layer on first use from ``x``'s shape.

    As in Keras, the first layer of a model may declare its inputs:
    ``input_shape=(28, 28)`` (without the batch dimension), ``input_dim=784``
    (the same as ``input_shape=(784,)``), or ``batch_input_shape=(None, 784)``,
    optionally with a fixed ``batch_size``. A ``Sequential`` model then builds
    at once, as if it started with ``keras.layers.Input``; any layer that
    declares its inputs refuses inputs of another shape.
    """

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        *,
        input_shape: Any = None,
        input_dim: int | None = None,
        batch_input_shape: Any = None,
        batch_size: int | None = None,
    ) -> None:
        self.name = name or _default_name(type(self))
        self.trainable = trainable
        self.dtype = dtype
        self.built = False
        self._variables: list[Any] = []
        #: The batch shape declared with input_shape / input_dim / batch_input_shape, or None.
        self._batch_input_shape = _declared_input_shape(
            f"{type(self).__name__} {self.name!r}", input_shape, batch_input_shape, batch_size, input_dim
        )

    @property
    def batch_input_shape(self) -> Shape | None:
        """The input shape the layer declared (batch dimension first, None where free), or None."""
        return None if self._batch_input_shape is None else Shape(self._batch_input_shape)

    def _check_declared_input(self, shape: Shape) -> None:
        declared = self.batch_input_shape
        if declared is not None and not declared.is_compatible_with(shape):
            raise ShapeError(
                f"{type(self).__name__} layer {self.name!r} was declared with input shape {declared} "
                f"(input_shape={declared.dims[1:] if declared.dims else ()}), got inputs of shape {shape}"
            )

    # -- to override ------------------------------------------------------------

    def build(self, input_shape: Shape) -> None:
        """Create the layer's variables for inputs of ``input_shape``."""

    def call(self, inputs: Any, training: Any = False) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.call")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments (used by model save/load)."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    # -- shared machinery --------------------------------------------------------

    def add_weight(self, name: str, shape: Any, initializer: Any, dtype: Any = None, trainable: bool = True) -> Any:
        """Create a variable owned by this layer, initialised by ``initializer(shape, dtype)``."""
        from opcore.tensor import Variable

        dims = as_shape(shape).as_tuple()
        dt = dtype or self.dtype or "float32"
        check = _weight_check.get()
        if check is not None:
            check(f"{self.name}/{name}", dims, _dt.as_dtype(dt))
        if not _context.executing_eagerly():  # in a graph, the initializer's nodes go under the weight's name
            from opcore.graph import name_scope

            with name_scope(f"{self.name}/{name}/Initializer"):
                value = initializer(dims, dt)
        else:
            value = initializer(dims, dt)
        var = Variable(value, trainable=trainable and self.trainable, name=f"{self.name}/{name}")
        self._variables.append(var)
        return var

    def __call__(self, inputs: Any, training: Any = None) -> Any:
        """Build on first use, then :meth:`call`. ``training`` is a bool, or a bool tensor in a graph."""
        # Functional-API placeholders (opcore.keras.Input) record the call instead of running it.
        first = inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs
        symbolic_call = getattr(first, "_opcore_layer_call", None)
        if symbolic_call is not None:
            return symbolic_call(self, inputs, training)
        if not self.built:
            shape = getattr(inputs, "shape", None)
            shape = shape if isinstance(shape, Shape) else as_shape(shape)
            self._check_declared_input(shape)
            self.build(shape)
            self.built = True
        if (
            not _context.executing_eagerly()
        ):  # in a graph, the layer's nodes go under its name (TensorBoard draws a box)
            from opcore.graph import name_scope

            with name_scope(self.name):
                return self.call(inputs, training=training if training is not None else False)
        return self.call(inputs, training=training if training is not None else False)

    @property
    def variables(self) -> list[Any]:
        return list(self._variables)

    @property
    def trainable_variables(self) -> list[Any]:
        return [v for v in self._variables if v.trainable] if self.trainable else []

    @property
    def weights(self) -> list[Any]:
        return self.variables

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
