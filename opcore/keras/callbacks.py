"""Callbacks of ``Model.fit`` (Keras's ``keras.callbacks``), and :class:`History`, what ``fit`` returns.

A callback is told when training, each epoch and each batch begin and end::

    class PrintLoss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["loss"])

    model.fit(x, y, callbacks=[PrintLoss()])

``logs`` at the end of an epoch holds the epoch's loss and metrics (and the
``val_`` ones); a callback may change them, and later callbacks and the
:class:`History` (always last) see the change. At the end of a batch it holds
the epoch's running means so far. Setting ``model.stop_training = True`` ends
``fit`` after the current epoch.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from opcore.keras._errors import ModelError

__all__ = ["Callback", "CallbackList", "History", "TensorBoard"]


class Callback:
    """Base class of callbacks: override the ``on_*`` methods you need.

    ``self.model`` is the model being trained and ``self.params`` the fit settings
    (``epochs``, ``batch_size``, ``samples``, ``steps``, ``verbose``).
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the last epoch; ``logs`` are the last epoch's."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Before epoch ``epoch`` (counted from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """After epoch ``epoch``, with its loss, metrics and validation results in ``logs``."""

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Before training batch ``batch`` of the epoch (counted from 0); calls :meth:`on_batch_begin`."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """After training batch ``batch``, with the epoch's running means in ``logs``; calls :meth:`on_batch_end`."""
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """The older name of :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """The older name of :meth:`on_train_batch_end`."""


class CallbackList:
    """Several callbacks called in order, as one."""

    def __init__(self, callbacks: Iterable[Callback] = (), model: Any = None, params: dict[str, Any] | None = None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)


class History(Callback):
    """The per-epoch record of a ``fit`` call (the last callback of every ``fit``).

    ``history.history`` maps each metric name (``"loss"``, ``"accuracy"``,
    ``"val_loss"`` ...) to its list of per-epoch values; ``history.epoch`` lists
    the epoch indices; ``history.params`` holds the fit settings.
    """

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params = dict(params or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.append(epoch, dict(logs or {}))

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record the logs of one finished epoch."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


class TensorBoard(Callback):
    """Write a ``fit`` run for TensorBoard, as Keras' ``TensorBoard`` callback lays it out.

    - ``log_dir/train``: ``epoch_loss``, ``epoch_<metric>`` at each epoch (step = epoch), with
      ``update_freq="batch"`` or an int N also ``batch_loss``, ``batch_<metric>`` every N batches
      (step = batches trained so far; the running means of the epoch, as Keras logs them);
      ``epoch_steps_per_second`` with ``write_steps_per_second``; ``epoch_learning_rate`` when the
      learning rate is a schedule;
    - ``log_dir/validation``: the ``val_*`` logs as ``epoch_loss``, ``epoch_<metric>``;
    - every ``histogram_freq`` epochs (0: never), a histogram of each weight
      (``<weight name>/histogram``), and with ``write_images`` the weights as images
      (``<weight name>/image``);
    - with ``write_graph``, the model traced into an opcore graph (its layers as name scopes).

    Needs the extra ``opcore[tensorboard]``. Profiling and embeddings are not supported:
    ``profile_batch`` other than 0 warns, ``embeddings_freq`` other than 0 raises.

    >>> import numpy as np, tempfile
    >>> from opcore import keras
    >>> model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", "mse")
    >>> tb = keras.callbacks.TensorBoard(tempfile.mkdtemp(), histogram_freq=1)  # doctest: +SKIP
    >>> model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=2, verbose=0, callbacks=[tb])  # doctest: +SKIP
    <History epochs=2 keys=['loss']>
    """

    def __init__(
        self,
        log_dir: Any = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: Any = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
    ) -> None:
        super().__init__()
        from opcore.summary import _tb

        _tb.proto("summary_pb2")  # a missing tensorboard package fails here, not after the first epoch
        self.log_dir = os.fspath(log_dir)
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ModelError(f"TensorBoard: histogram_freq must be an int >= 0, got {histogram_freq!r}")
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "epoch":
            self.update_freq = 0
        elif update_freq == "batch":
            self.update_freq = 1
        elif isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0:
            self.update_freq = update_freq
        else:
            raise ModelError(
                f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, got {update_freq!r}"
            )
        if profile_batch not in (0, None, (0, 0), [0, 0]):
            warnings.warn(
                "TensorBoard(profile_batch=...): opcore has no profiler; no profile is written",
                UserWarning,
                stacklevel=2,
            )
        if embeddings_freq:
            raise ModelError("TensorBoard: embeddings are not supported (give embeddings_freq=0)")
        del embeddings_metadata
        self._writers: dict[str, Any] = {}
        self._graph_pending = False
        self._global_batch = 0
        self._epoch_start = 0.0
        self._epoch_batches = 0

    # -- writers -------------------------------------------------------------------------

    def _writer(self, run: str) -> Any:
        w = self._writers.get(run)
        if w is None or w.closed:
            from opcore.summary import create_file_writer

            w = self._writers[run] = create_file_writer(os.path.join(self.log_dir, run))
        return w

    def _scalars(self, run: str, values: dict[str, float], prefix: str, step: int) -> None:
        from opcore.summary import _encode, _tb

        if not values:
            return
        summary = _tb.proto("summary_pb2").Summary(
            value=[_encode.scalar_value(f"{prefix}{k}", v) for k, v in values.items()]
        )
        self._writer(run).write_summary(summary, step)

    # -- hooks -----------------------------------------------------------------------------

    def _write_model_graph(self) -> None:
        self._graph_pending = False
        graph = _trace_graph(self.model)
        if graph is not None:
            self._writer("train").write_graph(graph, step=0)

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._global_batch = 0
        self._graph_pending = self.write_graph and self.model is not None
        if self._graph_pending and _input_specs(self.model):
            self._write_model_graph()  # (a model that its first batch builds is traced after that batch)

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self._graph_pending:
            self._write_model_graph()
        self._global_batch += 1
        self._epoch_batches += 1
        if self.update_freq and logs and self._global_batch % self.update_freq == 0:
            self._scalars("train", logs, "batch_", self._global_batch)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._epoch_start
            train["steps_per_second"] = self._epoch_batches / elapsed if elapsed > 0 else 0.0
        lr = _scheduled_learning_rate(self.model)
        if lr is not None:
            train["learning_rate"] = lr
        self._scalars("train", train, "epoch_", epoch)
        self._scalars("validation", val, "epoch_", epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        for w in self._writers.values():
            w.close()

    def _log_weights(self, epoch: int) -> None:
        from opcore.summary import _encode, _tb

        summary_pb2 = _tb.proto("summary_pb2")
        values = []
        for var in getattr(self.model, "variables", []):
            arr = var.numpy()
            name = _encode.clean_tag(str(var.name).replace(":", "_"))
            values.append(summary_pb2.Summary.Value(tag=f"{name}/histogram", histo=_encode.histogram_proto(arr, name)))
            if self.write_images:
                img = _weight_image(arr)
                if img is not None:  # tagged <name>/image, or <name>/image/i for a convolution's kernels
                    values.extend(_encode.image_values(name, img, 1 if len(img) == 1 else 3, True))
        if values:
            self._writer("train").write_summary(summary_pb2.Summary(value=values), epoch)


def _weight_image(w: np.ndarray) -> np.ndarray | None:
    """A weight as a batch of grey images: a bias as one row, a dense kernel as one image (the long side
    across), a 2-D convolution kernel as one image per output channel; None for other shapes."""
    w = np.squeeze(w)
    if w.ndim == 1:
        return w.reshape(1, 1, -1, 1)
    if w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        return w.reshape(1, w.shape[0], w.shape[1], 1)
    if w.ndim == 3:  # [kh, kw, out]: one image per output channel
        return np.transpose(w, (2, 0, 1))[..., None]
    return None


def _scheduled_learning_rate(model: Any) -> float | None:
    from opcore.train.schedules import LearningRateSchedule

    opt = getattr(model, "optimizer", None)
    lr = getattr(opt, "learning_rate", None)
    if opt is None or not isinstance(lr, LearningRateSchedule):
        return None
    value = lr(opt.iterations)
    numpy = getattr(value, "numpy", None)
    return float(np.asarray(numpy() if callable(numpy) else value))


def _input_specs(model: Any) -> list[Any]:
    """The KerasTensors describing the model's inputs (empty while a Sequential model is unbuilt)."""
    specs = list(getattr(model, "_inputs", []) or [])
    if not specs and getattr(model, "_input_spec", None) is not None:
        specs = [model._input_spec]
    return specs


def _trace_graph(model: Any) -> Any:
    """The model traced into an opcore graph (placeholders for its inputs, its variables captured, each
    layer a name scope); None, with a warning, when the model cannot be traced."""
    from opcore import dtypes as _dt
    from opcore.errors import OpcoreError
    from opcore.graph import Graph

    specs = _input_specs(model)
    if not specs:
        warnings.warn(
            f"TensorBoard: model {model.name!r} has no known input shape yet; its graph is not written",
            UserWarning,
            stacklevel=3,
        )
        return None
    graph = Graph(capture_variables=True)
    try:
        with graph.as_default():
            inputs = [
                graph.placeholder(spec.dtype or _dt.float32, spec.shape, name=str(spec.name).split(":")[0] or "input")
                for spec in specs
            ]
            model(inputs if len(inputs) > 1 else inputs[0], training=False)
    except (OpcoreError, TypeError, ValueError) as exc:
        warnings.warn(
            f"TensorBoard: model {model.name!r} could not be traced into a graph ({type(exc).__name__}: {exc}); "
            "its graph is not written",
            UserWarning,
            stacklevel=3,
        )
        return None
    return graph
