"""TensorFlow 1's sessions and their options: ``tf.Session(config=...)``, ``tf.InteractiveSession``,
``tf.ConfigProto``, ``tf.GPUOptions`` and ``tf.device``.

Sessions are :class:`opcore.Session`: they run on one backend (the usual selection:
``OPCORE_BACKEND``, ``opcore.set_default_backend``, or ``backend=``). TensorFlow 1's
placement options are accepted, checked for spelling, and have no effect.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

import opcore
from opcore.errors import GraphError
from opcore.graph import Graph

__all__ = [
    "ConfigProto",
    "GPUOptions",
    "GraphOptions",
    "InteractiveSession",
    "OptimizerOptions",
    "RunMetadata",
    "RunOptions",
    "Session",
    "device",
    "get_default_session",
]


class _Options:
    """A protocol-buffer-like record: known fields only, settable after construction."""

    _fields: ClassVar[dict[str, Any]] = {}

    def __init__(self, **fields: Any) -> None:
        for k, v in self._fields.items():
            object.__setattr__(self, k, v() if callable(v) else v)
        for k, v in fields.items():
            setattr(self, k, v)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._fields:
            raise AttributeError(
                f"{type(self).__name__} has no field named {name!r}; its fields: {', '.join(sorted(self._fields))}"
            )
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._fields)})"


class GPUOptions(_Options):
    """Accepted for TensorFlow 1 programs; device memory is managed by the backend."""

    _fields: ClassVar[dict[str, Any]] = {
        "allow_growth": False,
        "per_process_gpu_memory_fraction": 0.0,
        "visible_device_list": "",
        "allocator_type": "",
        "force_gpu_compatible": False,
    }


class OptimizerOptions(_Options):
    _fields: ClassVar[dict[str, Any]] = {
        "opt_level": 0,
        "do_common_subexpression_elimination": False,
        "global_jit_level": 0,
    }


class GraphOptions(_Options):
    _fields: ClassVar[dict[str, Any]] = {
        "optimizer_options": OptimizerOptions,
        "enable_bfloat16_sendrecv": False,
        "place_pruned_graph": False,
    }


class ConfigProto(_Options):
    """Session options (TensorFlow 1's ``tf.ConfigProto``), accepted and ignored by opcore's sessions."""

    _fields: ClassVar[dict[str, Any]] = {
        "allow_soft_placement": False,
        "log_device_placement": False,
        "gpu_options": GPUOptions,
        "graph_options": GraphOptions,
        "device_count": dict,
        "intra_op_parallelism_threads": 0,
        "inter_op_parallelism_threads": 0,
        "use_per_session_threads": False,
        "operation_timeout_in_ms": 0,
        "isolate_session_state": False,
    }


class RunOptions(_Options):
    """``options=`` of ``Session.run``, accepted and ignored."""

    FULL_TRACE = 3
    NO_TRACE = 0
    SOFTWARE_TRACE = 1
    HARDWARE_TRACE = 2
    _fields: ClassVar[dict[str, Any]] = {"trace_level": 0, "timeout_in_ms": 0, "output_partition_graphs": False}


class RunMetadata(_Options):
    """``run_metadata=`` of ``Session.run``, accepted; opcore records no step statistics."""

    _fields: ClassVar[dict[str, Any]] = {"step_stats": None, "partition_graphs": list}


class Session(opcore.Session):
    """TensorFlow 1's ``tf.Session(target='', graph=None, config=None)`` on opcore's sessions.

    ``graph`` defaults to the default graph; ``config`` is accepted (a
    :class:`ConfigProto`) and has no effect; ``backend`` picks opcore's backend.
    """

    def __init__(
        self,
        target: str = "",
        graph: Graph | None = None,
        config: ConfigProto | None = None,
        backend: str | None = None,
    ) -> None:
        if target:
            raise GraphError(
                f"tf.Session(target={target!r}): opcore runs sessions in this process; there are no session servers "
                "(see opcore.distributed for training across processes)"
            )
        if config is not None and not isinstance(config, ConfigProto):
            raise TypeError(f"tf.Session: config must be a tf.ConfigProto, got {type(config).__name__}")
        super().__init__(graph, backend)
        self.config = config

    def run(
        self, fetches: Any, feed_dict: dict[Any, Any] | None = None, options: Any = None, run_metadata: Any = None
    ) -> Any:
        """Evaluate ``fetches`` (tensors, variables, nodes, their names, or nested lists/tuples/dicts of them).

        As in TensorFlow 1, a scalar comes back as a NumPy scalar (``numpy.float32``), an
        array as an ndarray, a node as None.
        """
        return _scalars(super().run(fetches, feed_dict))


def _scalars(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value[()] if value.ndim == 0 else value
    if isinstance(value, dict):
        return {k: _scalars(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return type(value)(_scalars(v) for v in value)
    if isinstance(value, tuple):  # a namedtuple
        return type(value)(*[_scalars(v) for v in value])
    return value


class InteractiveSession(Session):
    """A session that makes itself this thread's default as soon as it is made (for shells and
    notebooks): ``t.eval()`` and ``op.run()`` use it until ``close()``."""

    def __init__(
        self,
        target: str = "",
        graph: Graph | None = None,
        config: ConfigProto | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(target, graph, config, backend)
        self._default: Any = self.as_default()
        self._default.__enter__()

    def close(self) -> None:
        default, self._default = getattr(self, "_default", None), None
        if default is not None:
            default.__exit__(None, None, None)
        super().close()


def get_default_session() -> opcore.Session | None:
    """This thread's default session (``with tf.Session():``, ``sess.as_default()``, an InteractiveSession)."""
    return opcore.get_default_session()


_DEVICE = re.compile(
    r"^(/job:[\w-]+)?(/replica:\d+)?(/task:\d+)?"
    r"(/(device:)?(cpu|gpu|xla_cpu|xla_gpu|tpu|sycl)(:(\d+|\*))?)?$",
    re.IGNORECASE,
)


@contextlib.contextmanager
def device(device_name_or_function: Any) -> Iterator[None]:
    """TensorFlow 1's ``with tf.device("/gpu:0"):``, accepted and without effect.

    opcore places work per session, not per op: every op of a session runs on the
    session's backend (``OPCORE_BACKEND=cuda``, ``opcore.set_default_backend``, or
    ``tf.Session(backend="cuda")``). A device string is checked (``/cpu:0``,
    ``/gpu:1``, ``/device:GPU:0``, ``/job:worker/task:0``) so that a typo still fails.
    """
    if device_name_or_function is not None and not callable(device_name_or_function):
        spec = str(device_name_or_function)
        if spec and not _DEVICE.match(spec):
            raise ValueError(
                f"tf.device: {spec!r} is not a device specification such as '/cpu:0', '/gpu:0' or '/device:GPU:0'"
            )
    yield
