"""Op definitions, kernel definitions and the registry that validates both.

An op is declared once, as one :class:`OpDef` value holding its signature,
shape function, dtype rule and gradient (TensorFlow's ``REGISTER_OP`` with
``SetShapeFn`` and ``RegisterGradient`` in one place):

>>> from opcore import registry, shapes
>>> zero_out = registry.define_op(
...     "doc.ZeroOut",
...     inputs=["to_zero: T"],
...     outputs=["zeroed: T"],
...     type_vars={"T": "int32, float32"},
...     shape_fn=shapes.unchanged("to_zero"),
...     differentiable=False,
...     register=False,
... )
>>> zero_out.signature
'doc.ZeroOut(to_zero: T) -> (zeroed: T); T in {int32, float32}'

Kernels are registered per (op, backend, dtypes) with
:meth:`Registry.register_kernel`; every registration is validated, and a clash
raises :class:`~opcore.errors.PluginError` naming the plugin, the op and what
clashed.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import (
    DTypeError,
    OpcoreError,
    OpDefinitionError,
    PluginError,
    UnknownBackendError,
    UnknownOpError,
)
from opcore.shapes import Shape, ShapeContext, ShapeFn

if TYPE_CHECKING:
    from opcore.backend import Backend

__all__ = [
    "ArgDef",
    "AttrDef",
    "GradContext",
    "KernelContext",
    "KernelDef",
    "KernelTable",
    "OpDef",
    "Registry",
    "Override",
    "add_note",
    "define_op",
    "get_registry",
    "install_hint",
]

_NAME_RE = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*$")
_ARG_RE = re.compile(r"^\s*(\w+)\s*:\s*(?:(\w+)\s*\*\s*)?(\w+)\s*$")
_ATTR_RE = re.compile(r"^\s*(\w+)\s*:\s*(list\(\w+\)|\{[^}]*\}|\w+)(\?)?\s*(?:>=\s*(-?\d+))?\s*(?:=\s*(.+?))?\s*$")
_ATTR_TYPES = ("int", "float", "bool", "string", "type", "shape", "list(int)", "list(float)")
# A distribution name as PEP 508 allows it (what ``pip install NAME`` accepts).
_DIST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
#: The built-in backend names and the distributions they belong to.
BUILTIN_BACKENDS = {"numpy": "opcore-numpy", "opencl": "opcore-opencl", "cuda": "opcore-cuda"}


def add_note(exc: BaseException, note: str) -> None:
    """Attach ``note`` to ``exc`` (shown under its traceback), keeping its type and traceback.

    Python 3.11+ has ``BaseException.add_note``; on 3.10 the note is stored in
    ``__notes__`` the same way, which pytest and ``exceptiongroup`` display.
    """
    if sys.version_info >= (3, 11):
        exc.add_note(note)
        return
    notes = getattr(exc, "__notes__", None)  # pragma: no cover - Python 3.10
    if not isinstance(notes, list):  # pragma: no cover
        notes = []
        try:
            setattr(exc, "__notes__", notes)  # noqa: B010 - no such attribute before Python 3.11
        except AttributeError:
            return
    notes.append(note)  # pragma: no cover


def install_hint(provider: str) -> str:
    """How to get the distribution ``provider``: a ``pip install`` line only for a valid name.

    >>> install_hint("opcore-zero-out")
    'pip install opcore-zero-out'
    >>> install_hint("x; rm -rf ~")
    "install the package that provides it ('x; rm -rf ~' is not a valid distribution name)"
    """
    if isinstance(provider, str) and _DIST_RE.match(provider) and len(provider) <= 200:
        return f"pip install {provider}"
    return f"install the package that provides it ({provider!r} is not a valid distribution name)"


# --------------------------------------------------------------------------- signature pieces


@dataclass(frozen=True)
class ArgDef:
    """An input or output: ``"x: T"``, ``"values: N * T"`` or ``"to_zero: int32"``."""

    name: str
    #: A type variable name, a fixed dtype name, or the name of a ``type`` attribute.
    type: str
    #: For a variadic argument, the count: a label for inputs (the list's length),
    #: the name of an int attribute for outputs.
    count: str | None = None

    @property
    def variadic(self) -> bool:
        return self.count is not None

    def __str__(self) -> str:
        return f"{self.name}: {self.count} * {self.type}" if self.count else f"{self.name}: {self.type}"


@dataclass(frozen=True)
class AttrDef:
    """An attribute: ``"axis: int = 0"``, ``"padding: {'SAME', 'VALID'}"``, ``"strides: list(int) >= 2"``."""

    name: str
    type: str
    default: Any = None
    has_default: bool = False
    optional: bool = False
    minimum: int | None = None
    allowed: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        t = "{" + ", ".join(repr(a) for a in self.allowed) + "}" if self.allowed else self.type
        s = f"{self.name}: {t}{'?' if self.optional else ''}"
        if self.minimum is not None:
            s += f" >= {self.minimum}"
        if self.has_default:
            s += f" = {self.default!r}"
        return s

    def check(self, op: str, value: Any) -> Any:
        """Validate and normalise a value (lists become tuples); raise naming op and attr."""
        if value is None:
            if self.optional:
                return None
            raise self._bad(op, value, "a value (None is not allowed)")
        t = self.type
        if self.allowed is not None:
            if value not in self.allowed:
                raise self._bad(op, value, "one of " + ", ".join(repr(a) for a in self.allowed))
            return value
        if t == "int":
            as_int = _as_int(value)
            if as_int is None:
                raise self._bad(op, value, "an int")
            if self.minimum is not None and as_int < self.minimum:
                raise self._bad(op, value, f"an int >= {self.minimum}")
            return as_int
        if t == "float":
            if isinstance(value, bool) or (not isinstance(value, (int, float)) and not hasattr(value, "__float__")):
                raise self._bad(op, value, "a float")
            return float(value)
        if t == "bool":
            if not isinstance(value, bool) and type(value).__name__ != "bool_":
                raise self._bad(op, value, "a bool")
            return bool(value)
        if t == "string":
            if not isinstance(value, str):
                raise self._bad(op, value, "a string")
            return value
        if t == "type":
            try:
                return _dt.as_dtype(value)
            except DTypeError:
                raise self._bad(op, value, "a dtype") from None
        if t in ("list(int)", "shape"):
            if isinstance(value, int) and not isinstance(value, bool) and t == "list(int)":
                value = [value]
            if isinstance(value, Shape):
                value = value.dims or ()
            try:
                items = tuple(value)
            except TypeError:
                raise self._bad(op, value, f"a {t}") from None
            ints = tuple(_as_int(v) if v is not None or t != "shape" else None for v in items)
            if any(i is None for i, v in zip(ints, items) if v is not None):
                raise self._bad(op, value, f"a {t}")
            if self.minimum is not None and len(ints) < self.minimum:
                raise self._bad(op, value, f"a {t} of length >= {self.minimum}")
            return ints
        if t == "list(float)":
            try:
                return tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise self._bad(op, value, "a list(float)") from None
        raise AssertionError(t)  # pragma: no cover - rejected at definition time

    def _bad(self, op: str, value: Any, expected: str) -> OpDefinitionError:
        return OpDefinitionError(
            f"{op}: attribute {self.name!r} expects {expected}, got {value!r} ({type(value).__name__})"
        )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    index = getattr(value, "__index__", None)
    if index is None:
        return None
    try:
        return int(index())
    except TypeError:
        return None


def _parse_arg(op: str, spec: str | ArgDef) -> ArgDef:
    if isinstance(spec, ArgDef):
        return spec
    m = _ARG_RE.match(spec)
    if not m:
        raise OpDefinitionError(
            f"{op}: cannot parse argument spec {spec!r}; expected 'name: T', 'name: N * T' or 'name: float32'"
        )
    name, count, type_ = m.groups()
    return ArgDef(name, type_, count)


def _parse_attr(op: str, spec: str | AttrDef) -> AttrDef:
    if isinstance(spec, AttrDef):
        return spec
    m = _ATTR_RE.match(spec)
    if not m:
        raise OpDefinitionError(
            f"{op}: cannot parse attribute spec {spec!r}; expected e.g. 'axis: int = 0', "
            "\"padding: {'SAME', 'VALID'}\" or 'strides: list(int) >= 2'"
        )
    name, type_, optional, minimum, default = m.groups()
    allowed: tuple[Any, ...] | None = None
    if type_.startswith("{"):
        try:
            allowed = tuple(ast.literal_eval("[" + type_[1:-1] + "]"))
        except (ValueError, SyntaxError):
            raise OpDefinitionError(f"{op}: cannot parse the allowed values in {spec!r}") from None
        type_ = "string" if all(isinstance(a, str) for a in allowed) else "int"
    elif type_ not in _ATTR_TYPES:
        raise OpDefinitionError(f"{op}: attribute {name!r} has unknown type {type_!r}; known: {', '.join(_ATTR_TYPES)}")
    attr = AttrDef(
        name,
        type_,
        optional=bool(optional),
        minimum=int(minimum) if minimum is not None else None,
        allowed=allowed,
    )
    if default is not None:
        try:
            value = ast.literal_eval(default)
        except (ValueError, SyntaxError):
            value = default  # a bare word such as int64 for a type attr
        value = attr.check(op, value)
        attr = AttrDef(name, type_, value, True, attr.optional, attr.minimum, attr.allowed)
    return attr


# --------------------------------------------------------------------------- contexts


@dataclass
class GradContext:
    """What a gradient function sees: the forward op's inputs, outputs and attributes,
    and which inputs' gradients are needed.

    The contract for gradient functions: called as ``fn(ctx, *dys)`` with one
    gradient per output, where a ``None`` means that output's gradient is zero
    (nothing downstream used it); return one gradient per input (a list for a
    variadic input), ``None`` for an input that gets none. An input whose
    ``ctx.needs_grad(i)`` is False may get ``None`` without computing anything.
    """

    op: OpDef
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    attrs: Mapping[str, Any]
    #: One flag per input: is its gradient needed? Empty means every input's is.
    needs: tuple[bool, ...] = ()

    def input(self, name: str) -> Any:
        return self.inputs[self.op.input_index(name)]

    def needs_grad(self, input: int | str) -> bool:
        """Whether the gradient of ``input`` (an index or a name) is used by anyone."""
        if not self.needs:
            return True
        i = input if isinstance(input, int) else self.op.input_index(input)
        return self.needs[i]


@dataclass
class KernelContext:
    """What a kernel sees besides its native input arrays.

    ``out_shapes`` and ``out_dtypes`` are what the frontend inferred; the kernel
    must return native arrays of exactly those shapes and dtypes.
    """

    op: str
    attrs: Mapping[str, Any]
    out_shapes: tuple[tuple[int, ...], ...]
    out_dtypes: tuple[DType, ...]
    #: The bound type variables, e.g. ``{"T": float32}``.
    types: Mapping[str, DType] = field(default_factory=dict)
    backend: Any = None
    #: True when the kernel may write each output that the op declares in ``aliases``
    #: into the buffer of its input (the caller owns those buffers exclusively);
    #: a kernel may ignore it and return new arrays.
    inplace: bool = False
    #: Scratch space kept with the context: a context serves every call of one plan,
    #: so a kernel derives what it needs from attributes and shapes once and keeps it here.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


GradFn = Callable[..., Sequence[Any]]
DTypeFn = Callable[[Mapping[str, DType], Mapping[str, Any]], Sequence[DType]]
KernelFn = Callable[..., Any]


# --------------------------------------------------------------------------- OpDef


class OpDef:
    """One op, declared once: signature, shape function, dtype rule and gradient.

    Calling an OpDef runs the op (eagerly, or by adding a node when given graph
    tensors): ``add(x, y)``. Inputs are positional, in declaration order (a
    variadic input takes a list); attributes are keywords.
    """

    def __init__(
        self,
        name: str,
        *,
        inputs: Sequence[str | ArgDef],
        outputs: Sequence[str | ArgDef],
        type_vars: Mapping[str, str | Iterable[DType | str]] | None = None,
        attrs: Sequence[str | AttrDef] = (),
        shape_fn: ShapeFn,
        dtype_fn: DTypeFn | None = None,
        gradient: GradFn | None = None,
        differentiable: bool = True,
        composite: Callable[..., Any] | None = None,
        version: int = 1,
        doc: str = "",
        stateful: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise OpDefinitionError(
                f"op name {name!r} is not valid; use an identifier, optionally namespaced: 'myorg.ZeroOut'"
            )
        self.name = name
        self.version = int(version)
        self.inputs = tuple(_parse_arg(name, s) for s in inputs)
        self.outputs = tuple(_parse_arg(name, s) for s in outputs)
        self.type_vars: dict[str, tuple[DType, ...]] = {k: _dt.parse_dtype_set(v) for k, v in (type_vars or {}).items()}
        self.attrs = {a.name: a for a in (_parse_attr(name, s) for s in attrs)}
        self.shape_fn = shape_fn
        self.dtype_fn = dtype_fn
        self._gradient: GradFn | None = None
        self.gradient = gradient
        self.differentiable = bool(differentiable)
        self.composite = composite
        self.stateful = stateful
        #: Output name -> input name: outputs that a kernel may write into their input's
        #: buffer when the caller gives that buffer up (TensorFlow's ``forward_input``),
        #: as optimizer updates do with a variable and its slots.
        self.aliases: dict[str, str] = dict(aliases or {})
        self.doc = doc
        #: The distribution (or plugin) that registered this op; filled in by the registry.
        self.provider: str = "opcore"
        self._check()
        self._input_index = {a.name: i for i, a in enumerate(self.inputs)}
        self._defaults = {k: a.default for k, a in self.attrs.items() if a.has_default}
        self._required_attrs = tuple(k for k, a in self.attrs.items() if not a.has_default and not a.optional)
        #: Dispatch's cached plans for eager calls, keyed by backend, dtypes, shapes and attributes.
        self._plans: dict[Any, tuple[Any, ...]] = {}

    def _check(self) -> None:
        names = [a.name for a in self.inputs] + [a.name for a in self.outputs] + list(self.attrs)
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise OpDefinitionError(f"{self.name}: names used twice: {sorted(dup)}")
        type_attrs = {k for k, a in self.attrs.items() if a.type == "type"}
        for arg in self.inputs + self.outputs:
            if arg.type in self.type_vars or arg.type in type_attrs:
                continue
            try:
                _dt.as_dtype(arg.type)
            except DTypeError:
                raise OpDefinitionError(
                    f"{self.name}: argument {arg.name!r} has type {arg.type!r}, which is neither a "
                    f"type variable ({', '.join(self.type_vars) or 'none declared'}), a type attribute "
                    "nor a dtype name"
                ) from None
        for arg in self.outputs:
            if arg.count is not None and (arg.count not in self.attrs or self.attrs[arg.count].type != "int"):
                raise OpDefinitionError(
                    f"{self.name}: variadic output {arg.name!r} needs an int attribute {arg.count!r} for its count"
                )
        for tv in self.type_vars:
            if not any(a.type == tv for a in self.inputs) and self.dtype_fn is None:
                used_by_attr = tv in self.attrs
                if not used_by_attr:
                    raise OpDefinitionError(
                        f"{self.name}: type variable {tv!r} is bound by no input; "
                        "bind it with an input or give a dtype_fn"
                    )
        in_names, out_names = {a.name for a in self.inputs}, {a.name for a in self.outputs}
        for out_name, in_name in self.aliases.items():
            if out_name not in out_names or in_name not in in_names:
                raise OpDefinitionError(
                    f"{self.name}: aliases maps outputs to inputs; {out_name!r} -> {in_name!r} names "
                    f"{'no output' if out_name not in out_names else 'no input'} of the op"
                )
        if self.gradient is not None and not self.differentiable:
            raise OpDefinitionError(f"{self.name}: marked not differentiable but given a gradient")

    @property
    def gradient(self) -> GradFn | None:
        """The gradient function; exceptions it raises name this op and its provider."""
        return self._gradient

    @gradient.setter
    def gradient(self, fn: GradFn | None) -> None:
        self._gradient = None if fn is None else _noted_gradient(self, fn)
        #: The gradient function as given (without the error annotation).
        self.gradient_impl = fn

    # -- introspection -------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def signature(self) -> str:
        s = f"{self.name}({', '.join(str(a) for a in self.inputs)}"
        if self.attrs:
            s += "; " + ", ".join(str(a) for a in self.attrs.values())
        s += f") -> ({', '.join(str(a) for a in self.outputs)})"
        if self.type_vars:
            s += "; " + "; ".join(f"{k} in {{{', '.join(d.name for d in v)}}}" for k, v in self.type_vars.items())
        return s

    def input_index(self, name: str) -> int:
        return self._input_index[name]

    def dtype_combinations(self) -> list[dict[str, DType]]:
        """Every binding of the type variables the op allows."""
        keys = list(self.type_vars)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.type_vars[k] for k in keys))]

    def type_key(self, binding: Mapping[str, DType]) -> tuple[DType, ...]:
        return tuple(binding[k] for k in self.type_vars)

    def same_signature(self, other: OpDef) -> bool:
        return (self.signature, self.version) == (other.signature, other.version)

    # -- calling -------------------------------------------------------------------

    def bind_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Check call attributes against the declaration; fill defaults."""
        unknown = [k for k in attrs if k not in self.attrs]
        if unknown:
            raise OpDefinitionError(
                f"{self.name}: unknown attribute(s) {', '.join(map(repr, unknown))}; "
                f"the op takes {', '.join(self.attrs) or 'no attributes'}"
            )
        out = dict(self._defaults)
        for k, v in attrs.items():
            out[k] = self.attrs[k].check(self.name, v)
        for k in self._required_attrs:
            if k not in out:
                raise OpDefinitionError(f"{self.name}: missing required attribute {k!r} ({self.attrs[k]})")
        for k, a in self.attrs.items():
            if a.optional and k not in out:
                out[k] = None
        return out

    def infer(
        self, shapes: Mapping[str, Shape | list[Shape]], binding: Mapping[str, DType], attrs: Mapping[str, Any]
    ) -> tuple[list[Shape], list[DType]]:
        """Run the shape function and dtype rule: the outputs' shapes and dtypes."""
        ctx = ShapeContext(self.name, shapes, attrs, binding)
        try:
            result = self.shape_fn(ctx)
        except Exception as exc:
            if not isinstance(exc, OpcoreError):
                add_note(exc, f"raised by the shape function of op {self.name!r} (from {self.provider!r})")
            raise
        out_shapes = [result] if isinstance(result, Shape) else list(result)
        n = self.num_outputs(attrs)
        if len(out_shapes) != n:
            raise OpDefinitionError(f"{self.name}: shape function returned {len(out_shapes)} shapes for {n} outputs")
        if self.dtype_fn is not None:
            out_dtypes = list(self.dtype_fn(binding, attrs))
        else:
            out_dtypes = []
            for a in self.outputs:
                d = self._output_dtype(a, binding, attrs)
                out_dtypes.extend([d] * (attrs[a.count] if a.count else 1))
        return out_shapes, out_dtypes

    def num_outputs(self, attrs: Mapping[str, Any]) -> int:
        """How many output tensors a call with these (bound) attributes produces."""
        return sum(attrs[a.count] if a.count else 1 for a in self.outputs)

    def _output_dtype(self, arg: ArgDef, binding: Mapping[str, DType], attrs: Mapping[str, Any]) -> DType:
        if arg.type in binding:
            return binding[arg.type]
        if arg.type in attrs:
            return _dt.as_dtype(attrs[arg.type])
        return _dt.as_dtype(arg.type)

    def __call__(self, *inputs: Any, name: str | None = None, **attrs: Any) -> Any:
        return _call_op(self, inputs, attrs, name)

    def __repr__(self) -> str:
        return f"<OpDef {self.signature} v{self.version} from {self.provider}>"


def _noted_gradient(op: OpDef, fn: GradFn) -> GradFn:
    def gradient(*args: Any, **kwargs: Any) -> Sequence[Any]:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not isinstance(exc, OpcoreError):
                add_note(exc, f"raised by the gradient of op {op.name!r} (from {op.provider!r})")
            raise

    gradient.__wrapped__ = fn  # type: ignore[attr-defined]
    return gradient


def _call_op(op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None) -> Any:
    # Dispatch sits above the op definitions in the layering: this is the one upward
    # call. It is resolved on first use and then bound directly, off the hot path.
    global _call_op
    from opcore.dispatch import call_op

    _call_op = call_op
    return call_op(op, inputs, attrs, name)


def define_op(name: str, *, register: bool = True, **kwargs: Any) -> OpDef:
    """Declare an op and (by default) register it in the process registry.

    See :class:`OpDef` for the keywords. Returns the OpDef, which is callable.
    """
    op = OpDef(name, **kwargs)
    if register:
        get_registry().register_op(op)
    return op


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class KernelDef:
    """A kernel: the function that runs ``op`` on ``backend`` for one dtype binding."""

    op: str
    backend: str
    types: tuple[DType, ...]
    #: The function the plugin registered (dispatch notes the op, backend and provider
    #: on anything it raises).
    fn: KernelFn
    provider: str
    #: The provider of the kernel this one overrode, if it overrode one.
    overrode: str = ""

    def describe(self, opdef: OpDef | None = None) -> str:
        if opdef is None or not opdef.type_vars:
            return f"{self.backend}[{', '.join(d.name for d in self.types) or 'no type vars'}]"
        return f"{self.backend}[" + ", ".join(f"{k}={d.name}" for k, d in zip(opdef.type_vars, self.types)) + "]"


DTypeSpec = Any  # None/"all", "float32, float64", [dtypes], {"T": dtypes}, [{"T": dtype}]


@dataclass(frozen=True)
class Override:
    """A kernel registered with ``override=True`` in place of an earlier one."""

    op: str
    backend: str
    types: tuple[DType, ...]
    #: The distribution whose kernel now runs, and the one whose kernel it replaced.
    provider: str
    replaced: str

    def describe(self) -> str:
        dts = "/".join(d.name for d in self.types) or "-"
        return f"{self.op} on {self.backend} [{dts}]: {self.provider} replaced {self.replaced}"


@dataclass
class _Deferred:
    opname: str
    backend: str
    kernels: list[KernelDef]
    override: bool


class Registry:
    """Ops, backends and kernels, with validation and per-plugin attribution."""

    def __init__(self) -> None:
        self.ops: dict[str, OpDef] = {}
        self.backends: dict[str, Backend] = {}
        self._kernels: dict[tuple[str, str], dict[tuple[DType, ...], KernelDef]] = {}
        self._plugin = "opcore"
        self._journal: list[tuple[str, Any]] | None = None
        #: Backend name -> the distribution it belongs to (the built-ins, ``opcore-N`` for N,
        #: then the first distribution that registers a name).
        self.backend_owners: dict[str, str] = dict(BUILTIN_BACKENDS)
        #: Distributions the user allowed to override kernels of backends they do not own.
        self.override_allowed: set[str] = set()
        #: While set, kernels for a backend another distribution owns are held back
        #: (see :meth:`take_deferred`), so that the owner's own kernels come first.
        self.defer_foreign_kernels = False
        self._deferred: dict[str, list[_Deferred]] = {}
        #: Incremented on every change, so caches keyed on the registry can notice.
        self.generation = 0
        #: Called after every change (dispatch drops its cached plans).
        self.on_change: Callable[[], None] | None = None

    @property
    def overrides(self) -> list[Override]:
        """Every kernel override in force (read off the kernel tables; a rollback undoes one)."""
        return [
            Override(kd.op, kd.backend, kd.types, kd.provider, kd.overrode)
            for table in self._kernels.values()
            for kd in table.values()
            if kd.overrode
        ]

    # -- attribution and rollback ------------------------------------------------------

    @contextlib.contextmanager
    def plugin_scope(self, plugin: str) -> Iterator[list[tuple[str, Any]]]:
        """Attribute registrations to ``plugin``; undo all of them if the block raises.

        Yields the journal of what the block registered, for a later :meth:`rollback`.
        """
        prev_plugin, prev_journal = self._plugin, self._journal
        journal: list[tuple[str, Any]] = []
        self._plugin, self._journal = plugin, journal
        try:
            yield journal
        except BaseException:
            self.rollback(journal)
            raise
        finally:
            self._plugin, self._journal = prev_plugin, prev_journal
            if prev_journal is not None and journal:
                prev_journal.extend(journal)

    def rollback(self, journal: list[tuple[str, Any]]) -> None:
        """Undo the registrations recorded in ``journal`` (newest first)."""
        for kind, item in reversed(journal):
            if kind == "op":
                self.ops.pop(item, None)
            elif kind == "backend":
                self.backends.pop(item, None)
            elif kind == "owner":
                self.backend_owners.pop(item, None)
            elif kind == "kernel":
                key, types, previous = item
                table = self._kernels.get(key, {})
                if previous is None:
                    table.pop(types, None)
                else:
                    table[types] = previous
        self._changed()

    def _record(self, kind: str, item: Any) -> None:
        if self._journal is not None:
            self._journal.append((kind, item))
        self._changed()

    def _changed(self) -> None:
        self.generation += 1
        if self.on_change is not None:
            self.on_change()

    # -- ops -----------------------------------------------------------------------

    def register_op(self, op: OpDef) -> OpDef:
        existing = self.ops.get(op.name)
        if existing is not None:
            if existing is op:
                return op
            if not existing.same_signature(op):
                raise PluginError(
                    f"plugin {self._plugin!r} redefines op {op.name!r} with another signature:\n"
                    f"  registered by {existing.provider!r}: {existing.signature} (version {existing.version})\n"
                    f"  new:  {op.signature} (version {op.version})\n"
                    "Give the new op a namespaced name (e.g. 'myorg.Name') or bump nothing and reuse the existing op."
                )
            raise PluginError(
                f"plugin {self._plugin!r} registers op {op.name!r} again; it was already registered "
                f"by {existing.provider!r}"
            )
        op.provider = self._plugin
        self.ops[op.name] = op
        self._record("op", op.name)
        return op

    def get_op(self, name: str, *, provider: str | None = None) -> OpDef:
        """The op named ``name``; ``provider`` (e.g. from a saved graph) names who defines it."""
        op = self.ops.get(name)
        if op is None:
            close = [n for n in self.ops if n.lower().rsplit(".", 1)[-1] == name.lower().rsplit(".", 1)[-1]]
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            if provider is not None:
                where = f" It is provided by distribution {provider!r}: {install_hint(provider)}."
            else:
                where = " An op from a plugin needs that plugin installed."
            raise UnknownOpError(f"no op named {name!r} is registered.{hint}{where} `opcore ops` lists the ops.")
        return op

    # -- backends ------------------------------------------------------------------------

    def register_backend(self, backend: Backend) -> None:
        """Register ``backend`` under its name, which must belong to the registering distribution."""
        name = backend.name
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"plugin {self._plugin!r} registers a backend with an invalid name {name!r}")
        existing = self.backends.get(name)
        if existing is backend:
            return
        owner = self.backend_owners.get(name)
        if owner is not None and owner != self._plugin:
            raise PluginError(
                f"plugin {self._plugin!r} registers backend {name!r}, but that name belongs to distribution "
                f"{owner!r}; a backend name belongs to one distribution. Give the backend another name."
            )
        if existing is not None:
            raise PluginError(
                f"plugin {self._plugin!r} registers backend {name!r}, which distribution "
                f"{getattr(existing, 'provider', '?')!r} already provides"
            )
        backend.provider = self._plugin
        self.backends[name] = backend
        self._record("backend", name)
        if owner is None:
            self.backend_owners[name] = self._plugin
            self._record("owner", name)

    def backend_owner(self, name: str) -> str | None:
        """The distribution a backend name belongs to (None: nobody has claimed it)."""
        b = self.backends.get(name)
        if b is not None:
            return b.provider
        return self.backend_owners.get(name)

    def get_backend(self, name: str) -> Backend:
        b = self.backends.get(name)
        if b is None:
            raise UnknownBackendError(
                f"no backend named {name!r} is installed; installed backends: "
                f"{', '.join(sorted(self.backends)) or 'none'}. "
                "Backends are plugins: install e.g. opcore-numpy, opcore-opencl or opcore-cuda."
            )
        return b

    # -- kernels ----------------------------------------------------------------------------

    def register_kernel(
        self,
        op: str | OpDef,
        backend: str,
        fn: KernelFn,
        dtypes: DTypeSpec = None,
        *,
        override: bool = False,
    ) -> list[KernelDef]:
        """Register ``fn`` as the kernel of ``op`` on ``backend`` for ``dtypes``.

        ``dtypes`` is None (every combination the op allows), a dtype or list of
        dtypes (ops with one type variable), a mapping ``{"T": [...], "Tidx": [...]}``
        (the product), or a list of such mappings.
        """
        opname = op.name if isinstance(op, OpDef) else op
        opdef = self.ops.get(opname)
        if opdef is None:
            raise PluginError(
                f"plugin {self._plugin!r} registers a kernel for unknown op {opname!r} on backend "
                f"{backend!r}; define the op first (or install the plugin that defines it)"
            )
        if opdef.composite is not None:
            raise PluginError(
                f"plugin {self._plugin!r} registers a kernel for {opname!r}, a composite op "
                "(it runs as other ops and takes no kernel)"
            )
        if not callable(fn):
            raise PluginError(
                f"plugin {self._plugin!r} registers a kernel for op {opname!r} on backend {backend!r} "
                f"that is not callable: {fn!r}"
            )
        kernels = [KernelDef(opname, backend, opdef.type_key(b), fn, self._plugin) for b in self._expand(opdef, dtypes)]
        pending = _Deferred(opname, backend, kernels, override)
        if self.defer_foreign_kernels and self.backend_owner(backend) != self._plugin:
            self._deferred.setdefault(self._plugin, []).append(pending)
            return kernels
        return self._add_kernels(pending)

    def take_deferred(self, plugin: str) -> list[_Deferred]:
        """Remove and return the kernel registrations held back for ``plugin``."""
        return self._deferred.pop(plugin, [])

    def apply_deferred(self, pending: list[_Deferred]) -> None:
        """Register held-back kernels (inside the plugin's :meth:`plugin_scope`)."""
        for p in pending:
            self._add_kernels(p)

    def _add_kernels(self, p: _Deferred) -> list[KernelDef]:
        opdef = self.ops[p.opname]
        owner = self.backend_owner(p.backend)
        table = self._kernels.setdefault((p.opname, p.backend), {})
        out: list[KernelDef] = []
        for kd in p.kernels:
            previous = table.get(kd.types)
            if previous is not None:
                if not p.override:
                    raise PluginError(
                        f"plugin {self._plugin!r} registers a second kernel for op {p.opname!r} on backend "
                        f"{p.backend!r} for {previous.describe(opdef)} (the first came from "
                        f"{previous.provider!r}); pass override=True to replace it on purpose"
                    )
                if self._plugin != owner and self._plugin not in self.override_allowed:
                    raise PluginError(
                        f"plugin {self._plugin!r} tries to override the kernel of op {p.opname!r} on backend "
                        f"{p.backend!r} for {previous.describe(opdef)} (from {previous.provider!r}); only the "
                        f"backend's own distribution {owner!r} may override its kernels. A user who wants this "
                        f"opts in with opcore.plugins.allow_overrides({self._plugin!r}) before the plugins load, "
                        f"or OPCORE_ALLOW_OVERRIDES={self._plugin}"
                    )
                kd = KernelDef(kd.op, kd.backend, kd.types, kd.fn, kd.provider, previous.provider)
            table[kd.types] = kd
            self._record("kernel", ((p.opname, p.backend), kd.types, previous))
            out.append(kd)
        return out

    def _expand(self, opdef: OpDef, dtypes: DTypeSpec) -> list[dict[str, DType]]:
        tvs = opdef.type_vars
        if dtypes is None or dtypes == "all":
            return opdef.dtype_combinations()
        if isinstance(dtypes, Mapping):
            specs: list[Mapping[str, Any]] = [dtypes]
        elif isinstance(dtypes, (str, DType)):
            specs = [{k: dtypes for k in tvs}] if len(tvs) == 1 else []
        else:
            items = list(dtypes)
            if items and all(isinstance(i, Mapping) for i in items):
                specs = items
            elif len(tvs) == 1:
                specs = [{next(iter(tvs)): items}]
            else:
                specs = []
        if not specs:
            raise PluginError(
                f"plugin {self._plugin!r}: op {opdef.name!r} has type variables {list(tvs)}; "
                "give kernel dtypes as a mapping like {'T': [...]} "
            )
        out: list[dict[str, DType]] = []
        for spec in specs:
            unknown = set(spec) - set(tvs)
            missing = set(tvs) - set(spec)
            if unknown or missing:
                raise PluginError(
                    f"plugin {self._plugin!r}: kernel dtypes for op {opdef.name!r} name type variables "
                    f"{sorted(spec)}, but the op declares {list(tvs)}"
                )
            choices: list[tuple[DType, ...]] = []
            for k in tvs:
                v = spec[k]
                vals = _dt.parse_dtype_set(v if not isinstance(v, DType) else [v])
                bad = [d.name for d in vals if d not in tvs[k]]
                if bad:
                    raise PluginError(
                        f"plugin {self._plugin!r} registers a kernel for op {opdef.name!r} with "
                        f"{k}={', '.join(bad)}, outside the op's allowed set "
                        f"{{{', '.join(d.name for d in tvs[k])}}}"
                    )
                choices.append(vals)
            out.extend(dict(zip(tvs, combo)) for combo in itertools.product(*choices))
        return out

    def kernel(self, op: str, backend: str, types: tuple[DType, ...]) -> KernelDef | None:
        table = self._kernels.get((op, backend))
        return None if table is None else table.get(types)

    def kernels_for(self, op: str, backend: str | None = None) -> list[KernelDef]:
        """Every kernel registered for ``op`` (on one backend, or all)."""
        out: list[KernelDef] = []
        for (o, b), table in self._kernels.items():
            if o == op and (backend is None or b == backend):
                out.extend(table.values())
        return out

    def claimed(self, backend: str) -> dict[str, list[tuple[DType, ...]]]:
        """What a backend claims: op name -> dtype bindings it has kernels for."""
        out: dict[str, list[tuple[DType, ...]]] = {}
        for (o, b), table in self._kernels.items():
            if b == backend and table:
                out[o] = list(table)
        return out


class KernelTable:
    """Collects a family's kernels; the plugin registers all tables at once.

    >>> T = KernelTable()
    >>> @T.kernel("Add", dtypes="float32, float64")
    ... def add(ctx, x, y):
    ...     return x + y
    """

    def __init__(self) -> None:
        self.entries: dict[str, tuple[KernelFn, Any]] = {}

    def kernel(self, op: str, dtypes: Any = None) -> Callable[[KernelFn], KernelFn]:
        """Decorator: ``fn`` is the kernel of ``op`` for ``dtypes`` (None: every dtype the op allows)."""

        def deco(fn: KernelFn) -> KernelFn:
            self.add(op, fn, dtypes)
            return fn

        return deco

    def add(self, op: str, fn: KernelFn, dtypes: Any = None) -> None:
        if op in self.entries:
            raise ValueError(f"kernel table already has an entry for {op!r}")
        self.entries[op] = (fn, dtypes)

    def __iter__(self) -> Iterator[tuple[str, KernelFn, Any]]:
        for op, (fn, dtypes) in self.entries.items():
            yield op, fn, dtypes


_REGISTRY = Registry()


def get_registry() -> Registry:
    """The process-wide registry."""
    return _REGISTRY
