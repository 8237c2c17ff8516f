"""Shapes with unknown dimensions or unknown rank, and shape-function helpers.

A shape function receives a :class:`ShapeContext` and returns the shape of
each output. It runs before any kernel, in eager and in graph mode alike, so
it must work on partially known shapes: an unknown dimension (``None``) or an
unknown rank propagates instead of failing, while a contradiction between two
known values raises :class:`~opcore.errors.ShapeError` naming the op, the
inputs and both shapes.

Some ops have outputs whose size depends on the input *values*, not only on
their shapes (``where(cond)``, ``boolean_mask``, ``unique``, ``setdiff1d``).
Their shape functions return :data:`VALUE_DEPENDENT` for such a dimension: the
kernel decides it when it runs. In a graph that dimension is unknown (``None``);
eagerly, the kernel gets ``None`` in its place in ``ctx.out_shapes`` and the
result contract checks every other dimension.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Union, overload

from opcore.errors import ShapeError

__all__ = [
    "Shape",
    "ShapeContext",
    "ShapeFn",
    "ShapeLike",
    "VALUE_DEPENDENT",
    "as_shape",
    "broadcast",
    "broadcast_pair",
    "concat_shape",
    "conv_output_size",
    "matmul_shape",
    "normalize_axes",
    "normalize_axis",
    "reduce_shape",
    "unchanged",
]

Dim = int | None


class _ValueDependent:
    """The type of :data:`VALUE_DEPENDENT` (one instance)."""

    __slots__ = ()
    _instance: _ValueDependent | None = None

    def __new__(cls) -> _ValueDependent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "VALUE_DEPENDENT"

    def __reduce__(self) -> str:
        return "VALUE_DEPENDENT"


VALUE_DEPENDENT = _ValueDependent()
"""A dimension that the op's kernel decides when it runs, from the input values.

The number of true elements of a mask, of distinct values, ... A shape function
puts it in the shape it returns, ``Shape([VALUE_DEPENDENT, rank])``; the shape
holds ``None`` there and lists the position in :attr:`Shape.value_dependent`.
"""

ShapeLike = Union["Shape", Sequence[Dim | _ValueDependent], None]


class Shape:
    """A possibly partial shape: ``Shape([None, 784])``, or ``Shape(None)`` for unknown rank.

    A dimension given as :data:`VALUE_DEPENDENT` is unknown (``None``) and its position is
    recorded in :attr:`value_dependent`: the op's kernel decides it from the input values.
    """

    __slots__ = ("dims", "value_dependent")

    dims: tuple[Dim, ...] | None
    #: The positions of the dimensions that a kernel decides when it runs (see
    #: :data:`VALUE_DEPENDENT`); empty for every shape that no shape function marked.
    value_dependent: tuple[int, ...]

    def __init__(self, dims: Iterable[Dim | _ValueDependent] | None) -> None:
        self.value_dependent = ()
        if dims is None:
            self.dims = None
            return
        out: list[Dim] = []
        marked: list[int] = []
        for d in dims:
            if d is VALUE_DEPENDENT:
                marked.append(len(out))
                out.append(None)
            elif d is None or (isinstance(d, int) and not isinstance(d, bool) and d == -1):
                out.append(None)
            elif isinstance(d, int) and not isinstance(d, bool) and d >= 0:
                out.append(int(d))
            else:
                try:
                    v = int(d.__index__())  # type: ignore[union-attr]  # numpy integers
                except (AttributeError, TypeError):
                    raise ShapeError(f"a dimension must be a non-negative int or None, got {d!r}") from None
                if v < 0:
                    raise ShapeError(f"a dimension must be non-negative or None, got {v}")
                out.append(v)
        self.dims = tuple(out)
        if marked:
            self.value_dependent = tuple(marked)

    @classmethod
    def unknown(cls) -> Shape:
        return cls(None)

    @property
    def rank(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    @property
    def is_fully_defined(self) -> bool:
        return self.dims is not None and all(d is not None for d in self.dims)

    def as_tuple(self) -> tuple[int, ...]:
        """The dims as a tuple of ints; fails unless fully defined."""
        if self.dims is None or any(d is None for d in self.dims):
            raise ShapeError(f"shape {self} is not fully defined")
        return self.dims  # type: ignore[return-value]

    def num_elements(self) -> int | None:
        """The number of elements, or None unless fully defined (TensorFlow's ``num_elements()``).

        >>> Shape([None, 7, 7, 64])[1:].num_elements()
        3136
        """
        if not self.is_fully_defined:
            return None
        n = 1
        for d in self.as_tuple():
            n *= d
        return n

    @property
    def ndims(self) -> int | None:
        """The rank, or None when unknown (TensorFlow's name for :attr:`rank`)."""
        return self.rank

    def as_list(self) -> list[Dim]:
        """The dims as a list, None for an unknown one (TensorFlow's ``as_list()``); fails for an unknown rank."""
        if self.dims is None:
            raise ShapeError("as_list() is not defined on a shape of unknown rank")
        return list(self.dims)

    def is_compatible_with(self, other: ShapeLike) -> bool:
        o = as_shape(other)
        if self.dims is None or o.dims is None:
            return True
        if len(self.dims) != len(o.dims):
            return False
        return all(a is None or b is None or a == b for a, b in zip(self.dims, o.dims))

    def merge_with(self, other: ShapeLike) -> Shape:
        """The most specific shape compatible with both; ``ShapeError`` if none."""
        o = as_shape(other)
        if self.dims is None:
            return o
        if o.dims is None:
            return self
        if not self.is_compatible_with(o):
            raise ShapeError(f"shapes {self} and {o} are not compatible")
        return Shape(a if a is not None else b for a, b in zip(self.dims, o.dims))

    def __iter__(self) -> Iterator[Dim]:
        if self.dims is None:
            raise ShapeError("cannot iterate over a shape of unknown rank")
        return iter(self.dims)

    def __len__(self) -> int:
        if self.dims is None:
            raise ShapeError("len() of a shape of unknown rank")
        return len(self.dims)

    @overload
    def __getitem__(self, i: int) -> Dim: ...

    @overload
    def __getitem__(self, i: slice) -> Shape: ...

    def __getitem__(self, i: int | slice) -> Dim | Shape:
        """A dim (an int or None), or for a slice the sub-shape (``shape[1:].num_elements()``)."""
        if isinstance(i, slice):
            return Shape(None) if self.dims is None else Shape(self.dims[i])
        if self.dims is None:
            return None
        return self.dims[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Shape):
            return self.dims == other.dims
        if isinstance(other, (tuple, list)):
            return self.dims == tuple(None if d == -1 else d for d in other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dims)

    def __repr__(self) -> str:
        if self.dims is None:
            return "Shape(None)"
        marked = set(self.value_dependent)
        return f"Shape([{', '.join('VALUE_DEPENDENT' if i in marked else repr(d) for i, d in enumerate(self.dims))}])"

    def __str__(self) -> str:
        if self.dims is None:
            return "<unknown>"
        inner = ", ".join("?" if d is None else str(d) for d in self.dims)
        return f"({inner},)" if len(self.dims) == 1 else f"({inner})"


def as_shape(value: ShapeLike) -> Shape:
    """Convert a tuple/list of dims (``None`` or ``-1`` for unknown) or None to a Shape."""
    if isinstance(value, Shape):
        return value
    if value is None:
        return Shape(None)
    if isinstance(value, int):
        raise ShapeError(f"a shape is a sequence of dims; got the int {value} (did you mean [{value}]?)")
    return Shape(value)


class ShapeContext:
    """What a shape function sees: the op's name, its inputs' shapes and dtypes, its attributes."""

    __slots__ = ("attrs", "dtypes", "op", "shapes")

    def __init__(
        self,
        op: str,
        shapes: Mapping[str, Shape | list[Shape]],
        attrs: Mapping[str, Any],
        dtypes: Mapping[str, Any] | None = None,
    ) -> None:
        self.op = op
        self.shapes = shapes
        self.attrs = attrs
        self.dtypes = dtypes or {}

    def input(self, name: str) -> Shape:
        s = self.shapes[name]
        if isinstance(s, list):
            raise TypeError(f"input {name!r} of {self.op} is variadic; use inputs()")
        return s

    def inputs(self, name: str) -> list[Shape]:
        s = self.shapes[name]
        return s if isinstance(s, list) else [s]

    def attr(self, name: str) -> Any:
        return self.attrs[name]

    def error(self, message: str, kind: type[ShapeError] = ShapeError) -> ShapeError:
        """A ShapeError (or the subclass ``kind``, e.g. InvalidIndexError) whose message starts with the op's name."""
        return kind(f"{self.op}: {message}")


ShapeFn = Callable[[ShapeContext], "Shape | Sequence[Shape]"]


# --------------------------------------------------------------------------- helpers


def unchanged(name: str) -> ShapeFn:
    """Shape function: the single output has the shape of input ``name``."""

    def fn(ctx: ShapeContext) -> Shape:
        return ctx.input(name)

    fn.__name__ = f"unchanged({name})"
    return fn


def broadcast_pair(ctx: ShapeContext, a: Shape, b: Shape, a_name: str, b_name: str) -> Shape:
    """NumPy broadcasting of two partial shapes."""
    if a.dims is None or b.dims is None:
        return Shape(None)
    n = max(len(a.dims), len(b.dims))
    da = (1,) * (n - len(a.dims)) + a.dims
    db = (1,) * (n - len(b.dims)) + b.dims
    out: list[Dim] = []
    for x, y in zip(da, db):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None:
            out.append(y)  # y is a known dim != 1 (or None): x must match it
        elif y is None or x == y:
            out.append(x)
        else:
            raise ctx.error(
                f"inputs {a_name!r} with shape {a} and {b_name!r} with shape {b} "
                "cannot be broadcast together (trailing dims must be equal or 1)"
            )
    return Shape(out)


def broadcast(*names: str) -> ShapeFn:
    """Shape function: NumPy broadcasting of the named inputs."""

    def fn(ctx: ShapeContext) -> Shape:
        out = ctx.input(names[0])
        seen = names[0]
        for n in names[1:]:
            out = broadcast_pair(ctx, out, ctx.input(n), seen, n)
            seen = f"{seen} x {n}"
        return out

    fn.__name__ = f"broadcast({', '.join(names)})"
    return fn


def normalize_axis(ctx: ShapeContext, axis: int, rank: int, what: str = "axis") -> int:
    """Turn a possibly negative axis into ``0 <= axis < rank`` or fail naming the op."""
    if not -rank <= axis < rank:
        raise ctx.error(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank if rank else 0


def normalize_axes(ctx: ShapeContext, axes: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Axes for a reduction: None means all; duplicates are an error."""
    if axes is None:
        return tuple(range(rank))
    seq = [axes] if isinstance(axes, int) else list(axes)
    out = tuple(normalize_axis(ctx, a, rank) for a in seq)
    if len(set(out)) != len(out):
        raise ctx.error(f"axis {list(seq)} names the same axis twice")
    return out


def reduce_shape(ctx: ShapeContext, x: Shape, axes: int | Sequence[int] | None, keepdims: bool) -> Shape:
    """Output shape of reducing ``x`` over ``axes``."""
    if x.dims is None:
        return Shape(None)
    red = set(normalize_axes(ctx, axes, len(x.dims)))
    if keepdims:
        return Shape(1 if i in red else d for i, d in enumerate(x.dims))
    return Shape(d for i, d in enumerate(x.dims) if i not in red)


def matmul_shape(ctx: ShapeContext, a: Shape, b: Shape, transpose_a: bool, transpose_b: bool) -> Shape:
    """Output shape of a (batched) matrix product with transpose flags."""
    if a.dims is None or b.dims is None:
        return Shape(None)
    if len(a.dims) < 2 or len(b.dims) < 2:
        raise ctx.error(f"inputs must have rank >= 2, got a with shape {a} and b with shape {b}")
    m, ka = (a.dims[-1], a.dims[-2]) if transpose_a else (a.dims[-2], a.dims[-1])
    kb, n = (b.dims[-1], b.dims[-2]) if transpose_b else (b.dims[-2], b.dims[-1])
    if ka is not None and kb is not None and ka != kb:
        raise ctx.error(
            f"inner dimensions differ: a has shape {a} (transpose_a={transpose_a}) and "
            f"b has shape {b} (transpose_b={transpose_b}); {ka} != {kb}"
        )
    batch = broadcast_pair(ctx, Shape(a.dims[:-2]), Shape(b.dims[:-2]), "a (batch dims)", "b (batch dims)")
    assert batch.dims is not None
    return Shape((*batch.dims, m, n))


def concat_shape(ctx: ShapeContext, shapes: Sequence[Shape], axis: int, names: str = "values") -> Shape:
    """Output shape of concatenating ``shapes`` along ``axis``."""
    known = [s for s in shapes if s.dims is not None]
    if not known:
        return Shape(None)
    rank = len(known[0].dims)  # type: ignore[arg-type]
    ax = normalize_axis(ctx, axis, rank)
    out: list[Dim] = list(known[0].dims)  # type: ignore[arg-type]
    total: int | None = 0
    for i, s in enumerate(shapes):
        if s.dims is None:
            total = None
            continue
        if len(s.dims) != rank:
            raise ctx.error(f"{names}[{i}] has shape {s}, rank {len(s.dims)}; expected rank {rank} like {known[0]}")
        for j, d in enumerate(s.dims):
            if j == ax:
                continue
            if d is not None and out[j] is not None and d != out[j]:
                raise ctx.error(
                    f"{names}[{i}] has shape {s}, which differs from {known[0]} in dimension {j} "
                    f"(only the concatenation axis {ax} may differ)"
                )
            if out[j] is None:
                out[j] = d
        if total is not None:
            d_ax = s.dims[ax]
            total = None if d_ax is None else total + d_ax
    out[ax] = total
    return Shape(out)


def conv_output_size(ctx: ShapeContext, size: Dim, window: Dim, stride: int, dilation: int, padding: str) -> Dim:
    """Output length of a convolution or pooling window along one spatial dim."""
    if size is None or window is None:
        return None
    effective = (window - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    if padding == "VALID":
        if size < effective:
            raise ctx.error(f"input size {size} is smaller than the (dilated) window {effective} with VALID padding")
        return (size - effective) // stride + 1
    raise ctx.error(f"padding must be 'SAME' or 'VALID', got {padding!r}")
