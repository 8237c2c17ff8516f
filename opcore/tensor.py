"""Eager tensors.

A :class:`Tensor` wraps one backend's native array (``numpy.ndarray``,
``cupy.ndarray``, ``pyopencl.array.Array``) with its opcore dtype and shape.
Tensors are immutable values; :class:`Variable` holds a tensor that can be
reassigned (what optimizers update).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from opcore import _context
from opcore import dtypes as _dt
from opcore.backend import Backend, current_backend, get_backend
from opcore.dtypes import DType
from opcore.errors import BackendMismatchError, DTypeError, OpDefinitionError, ShapeError
from opcore.ops import indexing as _indexing
from opcore.ops import math as _math
from opcore.shapes import Shape

__all__ = ["Tensor", "TensorOps", "Variable", "constant", "convert_to_tensor", "from_dlpack"]


_NO_ATTRS: dict[str, Any] = {}  # never mutated: dispatch copies attributes before binding them


def _call(op: Any, inputs: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
    # Operators call dispatch directly (one frame less than ``op(...)``). Dispatch sits
    # above tensors in the layering: resolved on first use, then bound directly.
    global _call
    from opcore.dispatch import call_op

    _call = call_op
    return call_op(op, inputs, attrs)


class TensorOps:
    """Python operators, shared by eager tensors, variables and graph tensors."""

    __slots__ = ()

    # Make NumPy defer to our reflected operators: ``ndarray + tensor`` gives a tensor.
    __array_ufunc__ = None

    def __add__(self, other: Any) -> Any:
        return _call(_math.add, (self, other), _NO_ATTRS)

    def __radd__(self, other: Any) -> Any:
        return _call(_math.add, (other, self), _NO_ATTRS)

    def __sub__(self, other: Any) -> Any:
        return _call(_math.subtract, (self, other), _NO_ATTRS)

    def __rsub__(self, other: Any) -> Any:
        return _call(_math.subtract, (other, self), _NO_ATTRS)

    def __mul__(self, other: Any) -> Any:
        return _call(_math.multiply, (self, other), _NO_ATTRS)

    def __rmul__(self, other: Any) -> Any:
        return _call(_math.multiply, (other, self), _NO_ATTRS)

    def __truediv__(self, other: Any) -> Any:
        return _math.divide(*_true_div_operands(self, other))

    def __rtruediv__(self, other: Any) -> Any:
        return _math.divide(*_true_div_operands(other, self))

    def __floordiv__(self, other: Any) -> Any:
        return _call(_math.floor_divide, (self, other), _NO_ATTRS)

    def __rfloordiv__(self, other: Any) -> Any:
        return _call(_math.floor_divide, (other, self), _NO_ATTRS)

    def __mod__(self, other: Any) -> Any:
        return _call(_math.mod, (self, other), _NO_ATTRS)

    def __rmod__(self, other: Any) -> Any:
        return _call(_math.mod, (other, self), _NO_ATTRS)

    def __pow__(self, other: Any) -> Any:
        return _call(_math.pow, (self, other), _NO_ATTRS)

    def __rpow__(self, other: Any) -> Any:
        return _call(_math.pow, (other, self), _NO_ATTRS)

    def __matmul__(self, other: Any) -> Any:
        return _call(_math.matmul, (self, other), _NO_ATTRS)

    def __rmatmul__(self, other: Any) -> Any:
        return _call(_math.matmul, (other, self), _NO_ATTRS)

    def __neg__(self) -> Any:
        return _call(_math.negative, (self,), _NO_ATTRS)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return _call(_math.abs, (self,), _NO_ATTRS)

    def __invert__(self) -> Any:
        return _call(_math.logical_not, (self,), _NO_ATTRS)

    def __and__(self, other: Any) -> Any:
        return _call(_math.logical_and, (self, other), _NO_ATTRS)

    def __rand__(self, other: Any) -> Any:
        return _call(_math.logical_and, (other, self), _NO_ATTRS)

    def __or__(self, other: Any) -> Any:
        return _call(_math.logical_or, (self, other), _NO_ATTRS)

    def __ror__(self, other: Any) -> Any:
        return _call(_math.logical_or, (other, self), _NO_ATTRS)

    def __lt__(self, other: Any) -> Any:
        return _call(_math.less, (self, other), _NO_ATTRS)

    def __le__(self, other: Any) -> Any:
        return _call(_math.less_equal, (self, other), _NO_ATTRS)

    def __gt__(self, other: Any) -> Any:
        return _call(_math.greater, (self, other), _NO_ATTRS)

    def __ge__(self, other: Any) -> Any:
        return _call(_math.greater_equal, (self, other), _NO_ATTRS)

    def __eq__(self, other: Any) -> Any:
        return _call(_math.equal, (self, other), _NO_ATTRS)

    def __ne__(self, other: Any) -> Any:
        return _call(_math.not_equal, (self, other), _NO_ATTRS)

    # Tensors are used as dict keys (feeds, gradients): identity hashing.
    __hash__ = object.__hash__

    def __getitem__(self, key: Any) -> Any:
        return _indexing.getitem(self, key)


def _true_div_operands(a: Any, b: Any) -> tuple[Any, Any]:
    """``/`` is true division: integer operands become the default float first."""
    out = []
    for v in (a, b):
        d = getattr(v, "dtype", None)
        if isinstance(d, DType) and not d.is_floating:
            v = _math.cast(v, _dt.default_float)
        out.append(v)
    return out[0], out[1]


def _dispatch_call_with_key(op: Any, key: Any, x: Tensor, make_attrs: Any) -> Any:
    # Dispatch sits above tensors in the layering: resolved on first use, then bound directly.
    global _dispatch_call_with_key
    from opcore.dispatch import call_with_key

    _dispatch_call_with_key = call_with_key
    return call_with_key(op, key, x, make_attrs)


_SPECS: dict[tuple[Backend, DType, tuple[int, ...]], object] = {}


def spec_token(backend: Backend, dtype: DType, shape: tuple[int, ...]) -> object:
    """The one token object for (backend, dtype, shape); hashed by identity, so cheap as a key."""
    key = (backend, dtype, shape)
    token = _SPECS.get(key)
    if token is None:
        if len(_SPECS) > 65536:  # forgetting tokens only costs cache misses
            _SPECS.clear()
        token = _SPECS[key] = object()
    return token


class Tensor(TensorOps):
    """An immutable n-dimensional array on one backend.

    >>> import opcore
    >>> t = opcore.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> (t * 2 + 1).numpy().tolist()
    [[3.0, 5.0], [7.0, 9.0]]
    """

    __slots__ = ("__weakref__", "_backend", "_dtype", "_shape", "_spec", "_value")

    _value: Any
    _backend: Backend
    _dtype: DType
    _shape: tuple[int, ...]
    #: An interned token for (backend, dtype, shape): dispatch keys its plans on it.
    _spec: object

    def __init__(
        self, value: Any, backend: Backend, dtype: DType, shape: tuple[int, ...], spec: object | None = None
    ) -> None:
        self._value = value
        self._backend = backend
        self._dtype = dtype
        self._shape = shape
        self._spec = spec if spec is not None else spec_token(backend, dtype, shape)

    @property
    def dtype(self) -> DType:
        return self._dtype

    @property
    def shape(self) -> Shape:
        return Shape(self._shape)

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self._shape:
            n *= d
        return n

    @property
    def backend(self) -> str:
        """The name of the backend holding the data."""
        return self._backend.name

    @property
    def value(self) -> Any:
        """The backend's native array (do not mutate it)."""
        return self._value

    def get_shape(self) -> Shape:
        return Shape(self._shape)

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the data (a transfer for device backends)."""
        if not self._backend.on_host:
            return self._backend.download(self._value)
        return np.array(self._value, copy=True)

    def to(self, backend: str) -> Tensor:
        """This tensor's data on another backend (an explicit transfer)."""
        target = get_backend(backend)
        if target is self._backend:
            return self
        host = self._backend.download(self._value)
        return Tensor(target.upload(np.array(host, order="C")), target, self._dtype, self._shape)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __dlpack__(self, stream: Any = None, **kwargs: Any) -> Any:
        native = self._value
        if hasattr(native, "__dlpack__"):
            return native.__dlpack__(**({"stream": stream} if stream is not None else {}), **kwargs)
        return self.numpy().__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        native = self._value
        if hasattr(native, "__dlpack_device__"):
            return native.__dlpack_device__()  # type: ignore[no-any-return]
        return (1, 0)  # kDLCPU

    def __getitem__(self, key: Any) -> Any:
        # Basic indexing keys its StridedSlice plan on the index itself, so a repeated
        # ``t[0]`` or ``t[:, 1:3]`` costs a lookup, not the seven attribute lists.
        k = _indexing.index_key(key)
        if k is None or (_context.active and not _context.executing_eagerly()):
            return _indexing.getitem(self, key)
        try:
            return _dispatch_call_with_key(
                _indexing.strided_slice, ("[]", self._spec, k), self, lambda: _indexing.strided_slice_attrs(key)
            )
        except ShapeError as e:
            raise type(e)(f"cannot index a tensor of shape {self.shape} with {key!r}: {e}") from None

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self) -> Iterator[Any]:
        if not self._shape:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self._shape[0]):
            yield self[i]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor with shape {self.shape} is ambiguous; "
                "use opcore.reduce_any/reduce_all or compare elements explicitly"
            )
        return bool(self.numpy().reshape(()))

    def __float__(self) -> float:
        return float(self.numpy().reshape(()))

    def __int__(self) -> int:
        return int(self.numpy().reshape(()))

    def __index__(self) -> int:
        if not self._dtype.is_integer or self._shape:
            raise TypeError(f"only integer scalar tensors can be used as an index, not {self._dtype} {self.shape}")
        return int(self.numpy())

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", threshold=20)
        return f"opcore.Tensor({body}, dtype={self._dtype.name}, backend={self._backend.name!r})"

    def __reduce__(self) -> Any:
        raise TypeError("opcore tensors are not picklable; save with opcore's checkpoints (safetensors)")


class Variable(TensorOps):
    """A named, reassignable tensor; trainable variables are what optimizers update.

    Reading a variable inside a :class:`~opcore.GradientTape` watches it
    automatically (when it is trainable).
    """

    __slots__ = ("__weakref__", "_value", "name", "trainable")

    def __new__(cls, initial_value: Any = None, *args: Any, **kwargs: Any) -> Any:
        graph = _context.building_graph()
        if graph is not None:  # graph mode: the graph makes (and owns) the variable
            return graph.variable(initial_value, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        initial_value: Any,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        backend: str | None = None,
    ) -> None:
        self._value = convert_to_tensor(initial_value, dtype=dtype, backend=backend)
        self.trainable = trainable
        self.name = name or "Variable"

    @property
    def dtype(self) -> DType:
        return self._value.dtype

    @property
    def shape(self) -> Shape:
        return self._value.shape

    @property
    def backend(self) -> str:
        return self._value.backend

    def value(self) -> Tensor:
        """The current value, as an immutable tensor."""
        return self._value

    def _read(self) -> Tensor:
        # An operator reads the value as an op input would: watched by recording tapes.
        if _context.active:
            for tape in _context.state.tapes:
                tape.watch_variable(self)
        return self._value

    # The common operators read the value first, so they take dispatch's tensor fast path.
    def __add__(self, other: Any) -> Any:
        return _call(_math.add, (self._read(), other), _NO_ATTRS)

    def __radd__(self, other: Any) -> Any:
        return _call(_math.add, (other, self._read()), _NO_ATTRS)

    def __sub__(self, other: Any) -> Any:
        return _call(_math.subtract, (self._read(), other), _NO_ATTRS)

    def __rsub__(self, other: Any) -> Any:
        return _call(_math.subtract, (other, self._read()), _NO_ATTRS)

    def __mul__(self, other: Any) -> Any:
        return _call(_math.multiply, (self._read(), other), _NO_ATTRS)

    def __rmul__(self, other: Any) -> Any:
        return _call(_math.multiply, (other, self._read()), _NO_ATTRS)

    def __matmul__(self, other: Any) -> Any:
        return _call(_math.matmul, (self._read(), other), _NO_ATTRS)

    def __rmatmul__(self, other: Any) -> Any:
        return _call(_math.matmul, (other, self._read()), _NO_ATTRS)

    def __neg__(self) -> Any:
        return _call(_math.negative, (self._read(),), _NO_ATTRS)

    def __getitem__(self, key: Any) -> Any:
        return self._read()[key]

    def read_value(self) -> Tensor:
        return self._value

    def numpy(self) -> np.ndarray:
        return self._value.numpy()

    def assign(self, value: Any) -> Variable:
        """Replace the value; shape and dtype must stay the same."""
        new = convert_to_tensor(value, dtype=self.dtype, backend=self.backend)
        if new._shape != self._value._shape:
            raise ShapeError(
                f"cannot assign a value of shape {new.shape} to variable {self.name!r} of shape {self.shape}"
            )
        if new.dtype is not self.dtype:
            raise DTypeError(
                f"cannot assign a value of dtype {new.dtype} to variable {self.name!r} of dtype {self.dtype}"
            )
        self._value = new
        return self

    def assign_add(self, delta: Any) -> Variable:
        return self.assign(_math.add(self._value, delta))

    def assign_sub(self, delta: Any) -> Variable:
        return self.assign(_math.subtract(self._value, delta))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self._value.__array__(dtype)

    def __repr__(self) -> str:
        return f"<opcore.Variable {self.name!r} shape={self.shape} dtype={self.dtype.name}>"


def _infer_dtype(value: Any) -> DType:
    """The dtype of Python or NumPy data: NumPy dtypes are kept, Python floats are float32."""
    if isinstance(value, (np.ndarray, np.generic)):
        return _dt.as_dtype(value.dtype)
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return _dt.default_float
    if arr.dtype.kind in "iu":
        return _dt.default_int
    return _dt.as_dtype(arr.dtype)


def convert_to_tensor(value: Any, dtype: Any = None, backend: str | None = None) -> Tensor:
    """Turn a Tensor, Variable, NumPy array or Python data into a Tensor.

    An existing tensor is returned as it is; asking for another dtype or backend
    is an error naming both (convert with ``opcore.cast`` or ``t.to(...)``).
    """
    if isinstance(value, Variable):
        value = value.value()
    if isinstance(value, Tensor):
        if dtype is not None and _dt.as_dtype(dtype) is not value.dtype:
            raise DTypeError(
                f"tensor has dtype {value.dtype}, but {_dt.as_dtype(dtype)} was asked for; use opcore.cast(t, dtype)"
            )
        if backend is not None and backend != value.backend:
            raise BackendMismatchError(
                f"tensor lives on backend {value.backend!r}, but {backend!r} was asked for; "
                f"move it explicitly with t.to({backend!r})"
            )
        return value
    return constant(value, dtype=dtype, backend=backend)


def constant(
    value: Any, dtype: Any = None, shape: Any = None, backend: str | None = None, name: str | None = None
) -> Tensor:
    """A tensor holding ``value`` (Python data or a NumPy array), copied onto ``backend``.

    While a graph is being built it is a ``Const`` node of that graph, named ``name``.

    >>> import opcore
    >>> opcore.constant(3).dtype
    opcore.int32
    >>> opcore.constant([1, 2], dtype="float64").numpy().tolist()
    [1.0, 2.0]
    """
    graph = _context.building_graph()
    if graph is not None and not isinstance(value, (Tensor, Variable)):
        if backend is not None:
            raise OpDefinitionError("constant(): backend= applies to eager tensors; a session picks the backend")
        host, d = _host_array(value, dtype, shape)
        return graph.constant(host, d, name=name)  # type: ignore[no-any-return]
    if isinstance(value, (Tensor, Variable)):
        t = convert_to_tensor(value)
        if dtype is not None and _dt.as_dtype(dtype) is not t.dtype:
            t = _math.cast(t, dtype)
        return t if backend is None else t.to(backend)
    host, d = _host_array(value, dtype, shape)
    b = current_backend(backend)
    return Tensor(b.upload(host), b, d, tuple(host.shape))


def _host_array(value: Any, dtype: Any, shape: Any) -> tuple[np.ndarray, DType]:
    d = _dt.as_dtype(dtype) if dtype is not None else _infer_dtype(value)
    try:
        host = np.array(value, dtype=d.np)
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"cannot convert {type(value).__name__} value to a {d} tensor: {exc}") from None
    if shape is not None:
        target = tuple(Shape(shape).as_tuple())
        if host.size == 1 and int(np.prod(target)) != 1:
            host = np.full(target, host.reshape(()), dtype=d.np)
        elif host.size == int(np.prod(target)):
            host = host.reshape(target)
        else:
            raise ShapeError(f"constant: cannot shape {host.size} values as {target}")
    return host, d


#: DLPack device type of host memory (``kDLCPU``).
_DLPACK_CPU = 1


def _dlpack_device(x: Any) -> tuple[int, int] | None:
    probe = getattr(x, "__dlpack_device__", None)
    if probe is None:
        return None
    device = probe()
    return int(device[0]), int(device[1])


def from_dlpack(x: Any, backend: str | None = None) -> Tensor:
    """A tensor of ``backend`` holding the data of a DLPack-capable array ``x``.

    A producer on the backend's own device is shared without a copy where the
    backend can read it (a non-contiguous view is made contiguous, a copy, on
    device backends); a host producer (a NumPy array) imported into a device
    backend is copied to the device. A producer on another device raises
    :class:`~opcore.BackendMismatchError` naming both devices.

    >>> opcore.from_dlpack(np.arange(3.0)).numpy()  # doctest: +SKIP
    array([0., 1., 2.])
    """
    b = current_backend(backend)
    from_dl = getattr(b, "from_dlpack", None)
    if from_dl is not None:
        native = from_dl(x)
        return Tensor(native, b, _dt.as_dtype(b.dtype_of(native)), b.shape_of(native))
    device = _dlpack_device(x)
    if device is not None and device[0] != _DLPACK_CPU:
        raise BackendMismatchError(
            f"from_dlpack: the array lives on DLPack device (type {device[0]}, id {device[1]}), not in host memory, "
            f"and backend {b.name!r} imports host arrays only; import it with the backend of its device "
            f"and move the tensor with .to({b.name!r})"
        )
    host = np.from_dlpack(x)
    if b.name == "numpy":  # NumPy reads any strides: share the memory
        return Tensor(host, b, _dt.as_dtype(host.dtype), tuple(host.shape))
    return Tensor(b.upload(np.array(host, order="C")), b, _dt.as_dtype(host.dtype), tuple(host.shape))
