"""Op definitions: one :class:`OpDef` value per op, holding its signature (typed inputs and
outputs, type variables, attributes with types, defaults and constraints), shape function,
dtype rule and gradient, with the contexts that shape functions, kernels and gradients see.

The registry (:mod:`opcore.registry`) validates and stores them; ``define_op`` there
declares and registers one in a call. The pieces of a signature (:class:`ArgDef`,
:class:`AttrDef` and the parsing of spec strings) live in :mod:`opcore._argdefs` and are
re-exported here.
"""

from __future__ import annotations

import inspect
import itertools
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opcore import dtypes as _dt
from opcore._argdefs import ArgDef, AttrDef, _parse_arg, _parse_attr
from opcore.dtypes import DType
from opcore.errors import DTypeError, OpcoreError, OpDefinitionError
from opcore.shapes import Shape, ShapeContext, ShapeFn

__all__ = [
    "ArgDef",
    "AttrDef",
    "DTypeFn",
    "GradContext",
    "GradFn",
    "KernelContext",
    "KernelFn",
    "OpDef",
    "add_note",
]

_NAME_RE = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*$")


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
    must return native arrays of exactly those shapes and dtypes. A dimension
    that the shape function marked :data:`~opcore.shapes.VALUE_DEPENDENT` is
    ``None`` in ``out_shapes``: the kernel decides it (``where(cond)`` counts the
    true elements), and every other dimension must still be as inferred.
    """

    op: str
    attrs: Mapping[str, Any]
    out_shapes: tuple[tuple[int | None, ...], ...]
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
        function_name: str | None = None,
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
        # An op is called like a function, so it introspects like one: ``help(opcore.gather)``,
        # ``inspect.signature`` and IDEs that ask the live object see the op's own name,
        # parameters and documentation (see ``__signature__``), not OpDef's.
        if function_name is not None and not (isinstance(function_name, str) and function_name.isidentifier()):
            raise OpDefinitionError(f"{name}: function_name must be a Python identifier, got {function_name!r}")
        #: The name of the Python function this op is called as (``gather`` for ``GatherV2``).
        self.__name__ = function_name or snake_case(name.rpartition(".")[2])
        self.__qualname__ = self.__name__
        self.__module__ = _defining_module()
        self.__doc__ = self._function_doc()
        self._signature: inspect.Signature | None = None
        self._input_index = {a.name: i for i, a in enumerate(self.inputs)}
        self._defaults = {k: a.default for k, a in self.attrs.items() if a.has_default}
        self._required_attrs = tuple(k for k, a in self.attrs.items() if not a.has_default and not a.optional)
        #: Dispatch's cached plans for eager calls, keyed by backend, dtypes, shapes and attributes.
        self._plans: dict[Any, tuple[Any, ...]] = {}
        #: One non-variadic tensor input: dispatch's one-tensor-with-attributes fast path applies.
        self._one_input = len(self.inputs) == 1 and not self.inputs[0].variadic
        self._list_input = len(self.inputs) == 1 and self.inputs[0].variadic  # concat, stack

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

    # -- the op as a Python function ------------------------------------------------

    @property
    def __signature__(self) -> inspect.Signature:
        """The call signature: inputs, then attributes (with their defaults), then ``name``.

        >>> import opcore, inspect
        >>> str(inspect.signature(opcore.gather))
        "(params: 'TensorLike', indices: 'TensorLike', axis: 'int' = 0, *, name: 'str | None' = None) -> 'Tensor'"
        """
        if self._signature is None:
            self._signature = _signature(self)
        return self._signature

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        # Like a function: an op stored on a class binds as a method.
        return self if obj is None else types.MethodType(self, obj)

    def _function_doc(self) -> str:
        lines = [self.doc.strip() or f"The op ``{self.name}``."]
        lines += ["", f"Op ``{self.name}`` (version {self.version}): ``{self.signature}``.", "", "Args:"]
        for a in self.inputs:
            what = f"a list of tensors of dtype {a.type}" if a.variadic else f"a tensor of dtype {a.type}"
            lines.append(f"    {a.name}: input, {what}.")
        for attr in self.attrs.values():
            lines.append(f"    {attr.name}: attribute, {_attr_phrase(attr)}.")
        lines.append("    name: the node's name when building a graph (ignored when executing eagerly).")
        outs = ", ".join(f"{a.name} ({f'{a.count} tensors' if a.variadic else 'a tensor'} of dtype {a.type})"
                         for a in self.outputs)  # fmt: skip
        lines += ["", "Returns:", f"    {outs}."]
        if self.type_vars:
            lines += ["", "Dtypes:"]
            lines += [f"    {k}: {', '.join(d.name for d in v)}" for k, v in self.type_vars.items()]
        return "\n".join(lines)

    # -- calling -------------------------------------------------------------------

    def bind_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Check call attributes against the declaration; fill defaults."""
        unknown = [k for k in attrs if k not in self.attrs]
        if unknown:
            inputs = [k for k in unknown if k in self._input_index]
            if inputs:
                raise OpDefinitionError(
                    f"{self.name}: input {inputs[0]!r} given both by position and by keyword; "
                    f"signature: {self.__name__}{self.__signature__}"
                )
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
        """Run the op: inputs by position or by name, then attributes; ``help(op)`` shows this op's own
        signature (``inspect.signature(op)``)."""
        if attrs and len(inputs) < len(self.inputs):
            inputs, attrs = self._inputs_by_keyword(inputs, attrs)
        return _call_op(self, inputs, attrs, name)

    def _inputs_by_keyword(
        self, inputs: tuple[Any, ...], attrs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Move inputs given by keyword (``gather(params=p, indices=i)``) to their positions."""
        attrs = dict(attrs)
        given = list(inputs)
        for arg in self.inputs[len(inputs) :]:
            if arg.name not in attrs:
                break
            given.append(attrs.pop(arg.name))
        for arg in self.inputs[: len(inputs)]:
            if arg.name in attrs:
                raise OpDefinitionError(f"{self.name}: input {arg.name!r} given both by position and by keyword")
        return tuple(given), attrs

    def __repr__(self) -> str:
        return f"<OpDef {self.signature} v{self.version} from {self.provider}>"


def snake_case(name: str) -> str:
    """A CamelCase op name as a Python function name: ``Conv2DBackpropInput`` -> ``conv2d_backprop_input``.

    >>> snake_case("ApplyRMSProp"), snake_case("L2Loss"), snake_case("ZeroOut")
    ('apply_rms_prop', 'l2_loss', 'zero_out')
    """
    return re.sub(r"(?<=[A-Za-z0-9])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", name).lower()


def _defining_module() -> str:
    """The module that declared the op being built (the first caller outside the registry)."""
    try:
        frame = sys._getframe(2)
    except ValueError:  # pragma: no cover - no Python caller
        return __name__
    while frame is not None and frame.f_globals.get("__name__") in ("opcore.opdef", "opcore.registry"):
        frame = frame.f_back  # type: ignore[assignment]
    return str(frame.f_globals.get("__name__", __name__)) if frame is not None else __name__


_ANNOTATIONS = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "string": "str",
    "type": "DType",
    "shape": "Sequence[int | None]",
    "list(int)": "int | Sequence[int]",
    "list(float)": "Sequence[float]",
}


def _attr_annotation(attr: AttrDef) -> str:
    if attr.allowed is not None:
        t = "Literal[" + ", ".join(repr(a) for a in attr.allowed) + "]"
    else:
        t = _ANNOTATIONS[attr.type]
    return f"{t} | None" if attr.optional else t


def _attr_phrase(attr: AttrDef) -> str:
    if attr.allowed is not None:
        s = "one of " + ", ".join(repr(a) for a in attr.allowed)
    else:
        s = {"type": "a dtype", "list(int)": "a list of ints", "list(float)": "a list of floats",
             "shape": "a shape", "string": "a string"}.get(attr.type, f"an {attr.type}" if attr.type == "int" else f"a {attr.type}")  # fmt: skip
    if attr.minimum is not None:
        s += f" (at least {attr.minimum}{' long' if attr.type.startswith('list') else ''})"
    if attr.has_default:
        s += f"; default {attr.default!r}"
    elif attr.optional:
        s += "; default None"
    else:
        s += "; required"
    return s


def _signature(op: OpDef) -> inspect.Signature:
    P = inspect.Parameter
    params = [
        P(a.name, P.POSITIONAL_OR_KEYWORD, annotation="Sequence[TensorLike]" if a.variadic else "TensorLike")
        for a in op.inputs
    ]
    kind: inspect._ParameterKind = P.POSITIONAL_OR_KEYWORD
    for attr in op.attrs.values():
        has_default = attr.has_default or attr.optional
        if not has_default and kind is P.POSITIONAL_OR_KEYWORD and params and params[-1].default is not P.empty:
            kind = P.KEYWORD_ONLY  # a required attribute after one with a default: keyword only
        default = attr.default if attr.has_default else (None if attr.optional else P.empty)
        params.append(P(attr.name, kind, default=default, annotation=_attr_annotation(attr)))
    params.append(P("name", P.KEYWORD_ONLY, default=None, annotation="str | None"))
    if len(op.outputs) == 1:
        ret = "list[Tensor]" if op.outputs[0].variadic else "Tensor"
    else:
        ret = "tuple[" + ", ".join("list[Tensor]" if a.variadic else "Tensor" for a in op.outputs) + "]"
    return inspect.Signature(params, return_annotation=ret)


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
