"""``Model``: the Keras-style training loop (``compile``/``fit``/``evaluate``/``predict``), run eagerly.

A training step is the classic ``GradientTape`` loop::

    with opcore.GradientTape() as tape:
        y_pred = model(x_batch, training=True)
        loss = loss_fn(y_batch, y_pred)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

Batches are copied onto the backend that holds the model's variables (the
backend current when the model was built).
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore import losses
from opcore import train as _train
from opcore.autodiff import GradientTape
from opcore.backend import current_backend
from opcore.errors import ShapeError
from opcore.keras._errors import ModelError
from opcore.keras._functional import KerasTensor, Node, is_symbolic, symbolic_call
from opcore.keras._metrics import MetricFn, resolve_metric
from opcore.keras.callbacks import Callback, CallbackList, History
from opcore.layers.base import Layer
from opcore.shapes import Shape, as_shape
from opcore.tensor import Tensor, Variable, constant

__all__ = ["Model"]


def _tqdm(**kwargs: Any) -> Any:
    # tqdm ships no type information; keep it untyped in one place.
    return importlib.import_module("tqdm").tqdm(**kwargs)


def _host(value: Any, what: str) -> np.ndarray:
    """NumPy data for ``x``/``y`` given as arrays, nested lists or opcore tensors."""
    if isinstance(value, (Tensor, Variable)):
        return value.numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{what}: cannot convert {type(value).__name__} to an array: {exc}") from None


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ModelError(f"{what} must be a positive int, got {value!r}")
    return int(value)


class Model(Layer):
    """A functional model: the layers called between ``inputs`` and ``outputs``.

    >>> import numpy as np
    >>> from opcore import keras
    >>> inputs = keras.layers.Input(shape=(4,))
    >>> hidden = keras.layers.Dense(8, activation="relu")(inputs)
    >>> outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    >>> model = keras.Model(inputs, outputs)
    >>> model.predict(np.ones((2, 4), np.float32)).shape
    (2, 3)

    The model is itself a layer: call it on tensors (``model(x, training=True)``)
    or on KerasTensors to nest it in a bigger model.
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self.optimizer: Any = None
        self.loss: Any = None
        self._loss_fn: Callable[[Any, Any], Any] | None = None
        self._metrics: list[tuple[str, MetricFn]] = []
        self._nodes: list[Node] = []
        self._layers: list[Layer] = []
        self._inputs: list[KerasTensor] = []
        self._outputs: list[KerasTensor] = []
        self._inputs_list = False
        self._outputs_list = False
        self.history: History | None = None
        #: Set to True (by a callback) to end ``fit`` after the current epoch.
        self.stop_training = False
        if inputs is None and outputs is None:
            if type(self) is Model:
                raise ModelError("Model(inputs, outputs): give the Input tensors and the output tensors")
            return
        self._init_graph(inputs, outputs)

    # -- the functional graph ---------------------------------------------------------

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        self._inputs_list = isinstance(inputs, (list, tuple))
        self._outputs_list = isinstance(outputs, (list, tuple))
        ins = list(inputs) if self._inputs_list else [inputs]
        outs = list(outputs) if self._outputs_list else [outputs]
        for kind, group in (("inputs", ins), ("outputs", outs)):
            if not group or not all(isinstance(t, KerasTensor) for t in group):
                raise ModelError(
                    f"Model {self.name!r}: {kind} must be KerasTensors (from keras.layers.Input and layer calls), "
                    f"got {[type(t).__name__ for t in group]}"
                )
        for t in ins:
            if not t.is_input:
                raise ModelError(f"Model {self.name!r}: input {t.name!r} is a layer output, not a keras.layers.Input")
        input_ids = {id(t) for t in ins}
        order: list[Node] = []
        seen: set[int] = set()

        def visit(t: KerasTensor) -> None:
            if id(t) in input_ids:
                return
            node = t.node
            if node is None:
                raise ModelError(
                    f"Model {self.name!r}: the outputs depend on Input {t.name!r}, which is not among the "
                    f"model's inputs {[i.name for i in ins]}"
                )
            if id(node) in seen:
                return
            seen.add(id(node))
            for parent in node.inputs:
                visit(parent)
            order.append(node)

        for t in outs:
            visit(t)
        layers: list[Layer] = []
        for node in order:
            if all(node.layer is not known for known in layers):
                layers.append(node.layer)
        self._check_unique_names(layers)
        self._nodes, self._layers, self._inputs, self._outputs = order, layers, ins, outs
        self.built = True

    def _check_unique_names(self, layers: Sequence[Layer]) -> None:
        names = [layer.name for layer in layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ModelError(
                f"Model {self.name!r}: layer names must be unique within a model, repeated: {dupes}; "
                "pass name=... to the layers"
            )

    @property
    def layers(self) -> list[Layer]:
        """The model's layers, in the order they run."""
        return list(self._layers)

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._outputs)

    @property
    def variables(self) -> list[Any]:
        out: list[Any] = []
        for layer in self._layers:
            for v in layer.variables:
                if all(v is not known for known in out):
                    out.append(v)
        return out

    @property
    def trainable_variables(self) -> list[Any]:
        if not self.trainable:
            return []
        out: list[Any] = []
        for layer in self._layers:
            for v in layer.trainable_variables:
                if all(v is not known for known in out):
                    out.append(v)
        return out

    @property
    def non_trainable_variables(self) -> list[Any]:
        trainable = self.trainable_variables
        return [v for v in self.variables if all(v is not t for t in trainable)]

    @property
    def weights(self) -> list[Any]:
        return self.variables

    def count_params(self) -> int:
        """The number of scalars in the model's variables."""
        return sum(int(np.prod(v.shape.as_tuple())) for v in self.variables)

    # -- running ------------------------------------------------------------------------

    def __call__(self, inputs: Any, training: bool | None = None) -> Any:
        if is_symbolic(inputs):
            return symbolic_call(self, inputs, training)
        return self.call(inputs, training=bool(training))

    def build(self, input_shape: Shape) -> None:
        """Functional models are built when made; nothing to do."""

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The shape(s) of the output KerasTensor(s), with the batch dim taken from ``input_shape``."""
        if not self._outputs:
            raise ModelError(f"model {self.name!r} has no outputs yet")
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        batch = as_shape(first)[0] if as_shape(first).rank else None
        shapes = [Shape((batch, *(t.shape.dims or ())[1:])) for t in self._outputs]
        return shapes if self._outputs_list else shapes[0]

    def _backend_name(self) -> str:
        for v in self.variables:
            return str(v.backend)
        return current_backend().name

    def _to_tensor(self, value: Any, expected: KerasTensor | None, what: str) -> Any:
        if isinstance(value, (Tensor, Variable)) or getattr(value, "_opcore_symbolic", False):
            return value  # (graph tensors: a model traced into a graph)
        arr = np.asarray(value)
        dtype = expected.dtype if expected is not None else None
        if dtype is None and arr.dtype.kind == "f":
            dtype = _dt.float32
        if dtype is not None and arr.dtype.kind in "iub" and dtype.is_floating:
            arr = arr.astype(dtype.np)
        return constant(arr, dtype=dtype, backend=self._backend_name())

    def _check_input(self, value: Any, spec: KerasTensor, first_layer: Layer | None) -> None:
        shape = as_shape(getattr(value, "shape", None) if hasattr(value, "shape") else np.shape(value))
        if not spec.shape.is_compatible_with(shape):
            where = f" (first layer {first_layer.name!r}, {type(first_layer).__name__})" if first_layer else ""
            raise ShapeError(f"model {self.name!r}{where}: input {spec.name!r} expects shape {spec.shape}, got {shape}")

    def _first_layer_of(self, spec: KerasTensor) -> Layer | None:
        for node in self._nodes:
            if any(t is spec for t in node.inputs):
                layer: Layer = node.layer
                return layer
        return None

    def _call_layer(self, layer: Layer, arg: Any, training: bool) -> Any:
        try:
            return layer(arg, training=training)
        except ShapeError as exc:
            if isinstance(layer, Model):
                raise
            shapes = [str(a.shape) for a in arg] if isinstance(arg, list) else str(getattr(arg, "shape", "?"))
            raise ShapeError(
                f"model {self.name!r}: layer {layer.name!r} ({type(layer).__name__}) failed on input of shape "
                f"{shapes}: {exc}"
            ) from None

    def call(self, inputs: Any, training: bool = False) -> Any:
        """Run the recorded layer calls on concrete ``inputs`` (a tensor/array, or a list for several inputs)."""
        given = list(inputs) if isinstance(inputs, (list, tuple)) and len(self._inputs) > 1 else [inputs]
        if len(given) != len(self._inputs):
            raise ModelError(f"model {self.name!r} takes {len(self._inputs)} inputs, got {len(given)}")
        values: dict[int, Any] = {}
        for spec, value in zip(self._inputs, given):
            self._check_input(value, spec, self._first_layer_of(spec))
            values[id(spec)] = self._to_tensor(value, spec, "inputs")
        for node in self._nodes:
            args = [values[id(t)] for t in node.inputs]
            out = self._call_layer(node.layer, args if node.as_list else args[0], training)
            assert node.output is not None
            values[id(node.output)] = out
        outs = [values[id(t)] for t in self._outputs]
        return outs if self._outputs_list else outs[0]

    # -- training -----------------------------------------------------------------------

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Sequence[Any] | None = None) -> None:
        """Choose the optimizer, loss and metrics for ``fit``/``evaluate``.

        Each may be a name (``"adam"``, ``"sparse_categorical_crossentropy"``,
        ``"accuracy"``) or an object; ``"accuracy"`` picks the variant that fits the
        loss (sparse, categorical or binary).
        """
        if loss is None:
            raise ModelError(f"model {self.name!r}: compile needs a loss, e.g. loss='mse'")
        self.optimizer = _train.get(optimizer) if isinstance(optimizer, (str, dict)) else optimizer
        if not hasattr(self.optimizer, "apply_gradients"):
            raise ModelError(f"model {self.name!r}: {optimizer!r} is not an optimizer (it has no apply_gradients)")
        self.loss = loss
        self._loss_fn = losses.get(loss)
        if isinstance(metrics, str):
            metrics = [metrics]
        resolved = [resolve_metric(m, loss) for m in (metrics or [])]
        names = [n for n, _ in resolved]
        if len(set(names)) != len(names) or "loss" in names:
            raise ModelError(f"model {self.name!r}: metric names must be distinct and not 'loss', got {names}")
        self._metrics = resolved

    @property
    def metrics_names(self) -> list[str]:
        """``["loss", *metric names]``: the order of ``evaluate``'s results."""
        return ["loss", *(n for n, _ in self._metrics)]

    def _require_compiled(self, what: str) -> Callable[[Any, Any], Any]:
        if self._loss_fn is None:
            raise ModelError(f"model {self.name!r}: call compile(optimizer, loss, metrics) before {what}()")
        return self._loss_fn

    def _single(self, value: Any, count: int) -> Any:
        """``[array]`` as ``array`` where the model has one input (or output), as Keras takes either."""
        if (
            count <= 1
            and isinstance(value, (list, tuple))
            and len(value) == 1
            and isinstance(value[0], (np.ndarray, Tensor, Variable))
        ):
            return value[0]
        return value

    def _prepare(self, x: Any, y: Any, what: str) -> tuple[Any, np.ndarray]:
        x, y = self._single(x, len(self._inputs)), self._single(y, len(self._outputs))
        xs = [_host(v, f"{what} x") for v in x] if isinstance(x, (list, tuple)) and len(self._inputs) > 1 else None
        xh: Any = xs if xs is not None else _host(x, f"{what} x")
        yh = _host(y, f"{what} y")
        n = len(xs[0]) if xs is not None else (len(xh) if xh.ndim else 0)
        for arr in [*(xs or [xh]), yh]:
            if arr.ndim == 0 or len(arr) != n:
                raise ModelError(
                    f"{what}: x and y must have the same number of examples (first dim); got x "
                    f"{[a.shape for a in (xs or [xh])]} and y {yh.shape}"
                )
        return xh, yh

    def _batches(self, n: int, batch_size: int, order: np.ndarray | None) -> Iterator[np.ndarray]:
        idx = order if order is not None else np.arange(n)
        for start in range(0, n, batch_size):
            yield idx[start : start + batch_size]

    def _x_batch(self, x: Any, idx: np.ndarray) -> Any:
        if isinstance(x, list):
            return [self._to_tensor(a[idx], spec, "x") for a, spec in zip(x, self._inputs)]
        return self._to_tensor(x[idx], self._inputs[0] if self._inputs else None, "x")

    def _y_batch(self, y: np.ndarray, idx: np.ndarray) -> Any:
        yb = y[idx]
        if yb.dtype.kind == "f" and yb.dtype != np.float32:
            yb = yb.astype(np.float32)
        return constant(yb, backend=self._backend_name())

    def train_step(self, xb: Any, yb: Any) -> tuple[Any, Any]:
        """One optimizer step on a batch of tensors; returns (loss, predictions)."""
        loss_fn = self._require_compiled("fit")
        with GradientTape() as tape:
            y_pred = self(xb, training=True)
            loss = loss_fn(yb, y_pred)
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if variables and not pairs:
            raise ModelError(f"model {self.name!r}: the loss does not depend on any trainable variable")
        if pairs:
            self.optimizer.apply_gradients(pairs)
        return loss, y_pred

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        validation_split: float = 0.0,
        validation_data: tuple[Any, Any] | None = None,
        shuffle: bool = True,
        verbose: int = 1,
        seed: int | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` in mini-batches; returns the :class:`History`.

        ``validation_split`` holds out the *last* fraction of the data (before
        shuffling) for validation; ``validation_data=(x_val, y_val)`` gives it
        explicitly. Each epoch's batches are shuffled with a generator seeded by
        ``seed``. ``verbose=1`` shows a tqdm progress bar per epoch on stderr.
        ``callbacks`` (:class:`~opcore.keras.callbacks.Callback` objects) are told
        when training, epochs and batches begin and end, in order, before the History.
        """
        self._require_compiled("fit")
        given = list(callbacks or [])
        for cb in given:
            if not isinstance(cb, Callback):
                raise ModelError(f"fit: callbacks must be keras.callbacks.Callback objects, got {type(cb).__name__}")
        epochs = _positive_int(epochs, "fit: epochs")
        batch_size = _positive_int(batch_size, "fit: batch_size")
        xh, yh = self._prepare(x, y, "fit")
        if not isinstance(validation_split, (int, float)) or not 0.0 <= float(validation_split) < 1.0:
            raise ModelError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise ModelError("fit: give validation_split or validation_data, not both")
        val: tuple[Any, np.ndarray] | None = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ModelError("fit: validation_data must be a pair (x_val, y_val)")
            val = self._prepare(validation_data[0], validation_data[1], "fit validation_data")
        elif validation_split:
            n_all = len(yh)
            n_val = math.ceil(n_all * float(validation_split))
            if n_val >= n_all:
                raise ModelError(f"fit: validation_split={validation_split} leaves no training data ({n_all} examples)")
            cut = n_all - n_val
            val = (_take(xh, slice(cut, None)), yh[cut:])
            xh, yh = _take(xh, slice(0, cut)), yh[:cut]
        n = len(yh)
        rng = np.random.default_rng(seed)
        steps = -(-n // batch_size)
        params = {"epochs": epochs, "batch_size": batch_size, "samples": n, "steps": steps, "verbose": verbose}
        history = History(params)
        hooks = CallbackList([*given, history], model=self, params=params)
        self.stop_training = False
        hooks.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(epochs):
            hooks.on_epoch_begin(epoch)
            order = rng.permutation(n) if shuffle else None
            bar = _tqdm(
                total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", file=sys.stderr, disable=not verbose
            )
            totals = np.zeros(1 + len(self._metrics))
            seen = 0
            try:
                for batch, idx in enumerate(self._batches(n, batch_size, order)):
                    hooks.on_train_batch_begin(batch, {"size": len(idx)})
                    xb, yb = self._x_batch(xh, idx), self._y_batch(yh, idx)
                    loss, y_pred = self.train_step(xb, yb)
                    values = [float(loss), *(float(fn(yb, y_pred)) for _, fn in self._metrics)]
                    totals += np.asarray(values) * len(idx)
                    seen += len(idx)
                    bar.update(1)
                    bar.set_postfix(loss=f"{values[0]:.4f}", refresh=False)
                    hooks.on_train_batch_end(batch, {k: float(v / seen) for k, v in zip(self.metrics_names, totals)})
                logs = {name: float(v / n) for name, v in zip(self.metrics_names, totals)}
                if val is not None:
                    scores = self._evaluate(val[0], val[1], batch_size)
                    logs.update({f"val_{name}": v for name, v in zip(self.metrics_names, scores)})
                hooks.on_epoch_end(epoch, logs)
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            finally:
                bar.close()
            if self.stop_training:
                break
        hooks.on_train_end(logs)
        self.history = history
        return history

    def _evaluate(self, x: Any, y: np.ndarray, batch_size: int) -> list[float]:
        loss_fn = self._require_compiled("evaluate")
        n = len(y)
        totals = np.zeros(1 + len(self._metrics))
        for idx in self._batches(n, batch_size, None):
            xb, yb = self._x_batch(x, idx), self._y_batch(y, idx)
            y_pred = self(xb, training=False)
            values = [float(loss_fn(yb, y_pred)), *(float(fn(yb, y_pred)) for _, fn in self._metrics)]
            totals += np.asarray(values) * len(idx)
        return [float(v / n) for v in totals]

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        """The loss and metrics on ``(x, y)``: ``[loss, *metrics]``, or the loss alone without metrics."""
        self._require_compiled("evaluate")
        batch_size = _positive_int(batch_size, "evaluate: batch_size")
        xh, yh = self._prepare(x, y, "evaluate")
        scores = self._evaluate(xh, yh, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(self.metrics_names, scores)), file=sys.stderr)
        return scores if self._metrics else scores[0]

    def predict(self, x: Any, batch_size: int = 32) -> Any:
        """The model's outputs on ``x`` as NumPy (a list of arrays for several outputs)."""
        batch_size = _positive_int(batch_size, "predict: batch_size")
        x = self._single(x, len(self._inputs))
        multi = isinstance(x, (list, tuple)) and len(self._inputs) > 1
        xh: Any = [_host(v, "predict x") for v in x] if multi else _host(x, "predict x")
        n = len(xh[0]) if multi else len(xh)
        chunks: list[list[np.ndarray]] = []
        for idx in self._batches(n, batch_size, None):
            out = self(self._x_batch(xh, idx), training=False)
            chunks.append([o.numpy() for o in out] if isinstance(out, list) else [out.numpy()])
        if not chunks:
            raise ModelError("predict: x holds no examples")
        results = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        return results if len(results) > 1 or self._outputs_list else results[0]

    # -- description and saving ---------------------------------------------------------------

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        rows: list[tuple[str, str, int, str]] = []
        for t in self._inputs:
            rows.append((f"{t.name} (InputLayer)", str(t.shape), 0, ""))
        for node in self._nodes:
            layer = node.layer
            params = sum(int(np.prod(v.shape.as_tuple())) for v in layer.variables)
            assert node.output is not None
            parents = ", ".join(t.name if t.is_input else t.name.split("/")[0] for t in node.inputs)
            rows.append((f"{layer.name} ({type(layer).__name__})", str(node.output.shape), params, parents))
        return rows

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Print the layers, their output shapes and parameter counts, and the totals."""
        out = print_fn or print
        rows = self._summary_rows()
        show_parents = type(self) is Model
        headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        cols = [list(headers)] + [[r[0], r[1], f"{r[2]:,}", r[3]] for r in rows]
        ncol = 4 if show_parents else 3
        widths = [max(len(c[i]) for c in cols) + 2 for i in range(ncol)]
        line = "=" * sum(widths)

        def fmt(c: list[str]) -> str:
            return "".join(c[i].ljust(widths[i]) for i in range(ncol)).rstrip()

        out(f'Model: "{self.name}"')
        out(line)
        out(fmt(cols[0]))
        out(line)
        for c in cols[1:]:
            out(fmt(c))
        out(line)
        total = self.count_params()
        trainable = sum(int(np.prod(v.shape.as_tuple())) for v in self.trainable_variables)
        out(f"Total params: {total:,}")
        out(f"Trainable params: {trainable:,}")
        out(f"Non-trainable params: {total - trainable:,}")
        out(line)

    def get_config(self) -> dict[str, Any]:
        """The architecture: layers (class name and config), inputs, and the recorded calls."""
        from opcore.keras._saving import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        from opcore.keras._saving import functional_from_config

        model: Model = functional_from_config(config, None)
        return model

    def save(self, path: str | Any) -> None:
        """Save architecture and weights to one safetensors file (see :mod:`opcore.keras.models`)."""
        from opcore.keras._saving import save_model

        save_model(self, path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} layers={len(self._layers)}>"


def _take(x: Any, index: Any) -> Any:
    return [a[index] for a in x] if isinstance(x, list) else x[index]
