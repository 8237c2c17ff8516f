"""``scalar``, ``histogram``, ``image``, ``audio``, ``text``, ``merge``, ``merge_all`` and ``graph``.

Each summary function works in both of TensorFlow's styles, chosen by what it is given:

- **in a graph** (a graph tensor, or while building a graph), TensorFlow 1's: it adds a summary
  node whose value, ``Session.run`` of it, is a serialized ``Summary`` (``bytes``) to hand to
  :meth:`FileWriter.add_summary`; the node joins the ``summaries`` collection (or
  ``collections``) that :func:`merge_all` merges; its tag is the node's name, so name scopes
  prefix it;
- **eagerly**, TensorFlow 2's: it writes at once to the default writer
  (``with writer.as_default():``) at ``step`` (or the default step) and returns True, or
  returns False when no writer is default or ``record_if`` says no.

TensorFlow 1's positional arguments keep their meaning in a graph: a list third argument is
``collections``, and ``image``'s/``audio``'s int third (fourth) argument is ``max_outputs``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from opcore import _context
from opcore import dtypes as _dt
from opcore.errors import DTypeError, ShapeError, SummaryError
from opcore.graph import Graph, GraphKeys, GraphVariable, SymbolicTensor, get_default_graph
from opcore.summary import _encode, _tb
from opcore.summary._writer import default_writer, get_step, should_record_summaries

__all__ = ["audio", "graph", "histogram", "image", "merge", "merge_all", "scalar", "tensor_summary", "text", "write"]


def _graph_of(data: Any) -> Graph | None:
    """The graph a summary of ``data`` belongs to; None to write eagerly."""
    if isinstance(data, (SymbolicTensor, GraphVariable)):
        return data.graph
    return _context.building_graph()  # type: ignore[no-any-return]


def _pick(fn: str, data: Any, alias: str, alias_value: Any) -> Any:
    if data is not None and alias_value is not None:
        raise SummaryError(f"{fn}(): give data or {alias}=, not both")
    value = data if data is not None else alias_value
    if value is None:
        raise SummaryError(f"{fn}() needs the data to summarize (data=, or TensorFlow 1's {alias}=)")
    return value


def _is_collections(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(x, str) for x in value)


def _no_graph_step(fn: str, step: Any) -> None:
    if step is not None:
        raise SummaryError(
            f"{fn}(step={step!r}) writes eagerly, but this summary is built in a graph: there a summary is a "
            "node; run it in a session and write its value with FileWriter.add_summary(value, global_step)"
        )


def _host_value(data: Any) -> np.ndarray:
    numpy = getattr(data, "numpy", None)
    return np.asarray(numpy() if callable(numpy) else data)


def _tag(name: Any, family: Any) -> str:
    tag = _encode.clean_tag(name)
    return tag if family is None else f"{_encode.clean_tag(family, 'summary family')}/{tag}"


# --------------------------------------------------------------------------- the two paths


def _in_graph(
    graph: Graph,
    type_name: str,
    name: Any,
    family: Any,
    inputs: Sequence[Any],
    encode: Callable[..., list[Any]],
    collections: Any,
    attrs: dict[str, Any] | None = None,
) -> SymbolicTensor:
    summary_pb2 = _tb.proto("summary_pb2")  # fails here, at build time, when tensorboard is missing
    base = _tag(name, None) if family is None else f"{_encode.clean_tag(family, 'summary family')}/{_tag(name, None)}"
    out = graph.host_call(None, inputs, type_name, base, attrs)
    node = out.node
    tag = node.name if family is None else f"{_encode.clean_tag(family)}/{node.name}"
    node.attrs["tag"] = tag

    def run(*values: Any) -> bytes:
        result: bytes = summary_pb2.Summary(value=encode(tag, *values)).SerializeToString()
        return result

    node.value = run
    if collections is None:
        collections = [GraphKeys.SUMMARIES]
    elif not _is_collections(collections):
        raise SummaryError(f"collections must be a list of collection names, got {collections!r}")
    graph.add_to_collections(list(collections), out)
    return out


def _eagerly(name: Any, family: Any, step: Any, values: Callable[[str], list[Any]]) -> bool:
    writer = default_writer()
    if writer is None or not should_record_summaries():
        return False
    if step is None:
        step = get_step()
        if step is None:
            raise SummaryError(
                "no step set for this summary: pass step=, use writer.as_default(step=...), "
                "or call opcore.summary.experimental.set_step(step)"
            )
    tag = _tag(name, family)
    writer.write_summary(_tb.proto("summary_pb2").Summary(value=values(tag)), step)
    return True


def _check_numeric(fn: str, t: SymbolicTensor) -> None:
    if t.dtype is _dt.string:
        raise DTypeError(f"{fn}(): {t.name!r} is a string tensor; a {fn} summary takes numbers")


# --------------------------------------------------------------------------- summaries


def scalar(
    name: str,
    data: Any = None,
    step: Any = None,
    description: str | None = None,
    collections: Sequence[str] | None = None,
    family: str | None = None,
    *,
    tensor: Any = None,
) -> Any:
    """A scalar summary: one number per step, drawn as a curve in TensorBoard's scalars view.

    In a graph (TensorFlow 1's ``tf.summary.scalar(name, tensor, collections=None, family=None)``)
    returns the summary tensor; eagerly (TensorFlow 2's ``scalar(name, data, step=None,
    description=None)``) writes to the default writer and returns whether it wrote.

    >>> import opcore, tempfile
    >>> writer = opcore.summary.create_file_writer(tempfile.mkdtemp())  # doctest: +SKIP
    >>> with writer.as_default():  # doctest: +SKIP
    ...     opcore.summary.scalar("loss", 0.25, step=1)
    True
    """
    data = _pick("scalar", data, "tensor", tensor)
    if _is_collections(step) and collections is None:
        step, collections = None, step
    g = _graph_of(data)
    if g is not None:
        _no_graph_step("scalar", step)
        with g.as_default():
            t = g._tensor(data, what=f"scalar summary {name!r}")
        _check_numeric("scalar", t)
        if t.shape.is_fully_defined and t.shape.num_elements() != 1:
            raise ShapeError(
                f"scalar summary {name!r}: {t.name!r} has shape {t.shape}; a scalar summary takes one value"
            )
        return _in_graph(g, "ScalarSummary", name, family, [t],
                         lambda tag, v: [_encode.scalar_value(tag, v, description)], collections)  # fmt: skip
    return _eagerly(name, family, step, lambda tag: [_encode.scalar_value(tag, _host_value(data), description)])


def histogram(
    name: str,
    data: Any = None,
    step: Any = None,
    buckets: int | None = None,
    description: str | None = None,
    collections: Sequence[str] | None = None,
    family: str | None = None,
    *,
    values: Any = None,
) -> Any:
    """A histogram summary of all the values of a tensor (TensorBoard's histograms and distributions views).

    In a graph (TensorFlow 1's ``histogram(name, values, collections=None, family=None)``) the buckets are
    TensorFlow 1's exponential ones; eagerly (TensorFlow 2's ``histogram(name, data, step=None,
    buckets=None, description=None)``) ``buckets`` equal-width buckets (default 30). NaN or Inf in the
    values raise :class:`~opcore.errors.SummaryError`, as TensorFlow's "NaN in summary histogram" does.
    """
    data = _pick("histogram", data, "values", values)
    if _is_collections(step) and collections is None:
        step, collections = None, step
    g = _graph_of(data)
    if g is not None:
        _no_graph_step("histogram", step)
        with g.as_default():
            t = g._tensor(data, what=f"histogram summary {name!r}")
        _check_numeric("histogram", t)

        def encode(tag: str, v: Any) -> list[Any]:
            v_pb = _tb.proto("summary_pb2").Summary.Value(tag=tag, histo=_encode.histogram_proto(v, tag, buckets))
            if description:
                v_pb.metadata.summary_description = description
            return [v_pb]

        return _in_graph(g, "HistogramSummary", name, family, [t], encode, collections)

    def eager(tag: str) -> list[Any]:
        proto = _encode.histogram_proto(_host_value(data), tag, 30 if buckets is None else buckets)
        v_pb = _tb.proto("summary_pb2").Summary.Value(tag=tag, histo=proto)
        if description:
            v_pb.metadata.summary_description = description
        return [v_pb]

    return _eagerly(name, family, step, eager)


def _graph_max_outputs(step: Any, max_outputs: Any, collections: Any) -> tuple[Any, Any, Any]:
    """In a graph, TensorFlow 1's positional ``(max_outputs, collections)`` arrive as ``(step, max_outputs)``."""
    if step is None:
        return None, max_outputs, collections
    if _is_collections(step):
        return None, max_outputs, step if collections is None else collections
    if _is_collections(max_outputs) and collections is None:
        return None, step, max_outputs
    return None, step, collections


def image(
    name: str,
    data: Any = None,
    step: Any = None,
    max_outputs: int = 3,
    description: str | None = None,
    collections: Sequence[str] | None = None,
    family: str | None = None,
    *,
    tensor: Any = None,
) -> Any:
    """An image summary of up to ``max_outputs`` images of a ``[k, height, width, channels]`` batch
    (channels 1, 3 or 4), written as PNG and tagged ``name/image/0``, ``name/image/1`` ... (``name/image``
    for one image).

    uint8 images are written as they are. Float images: in a graph, as TensorFlow 1 does (non-negative
    images scaled so the largest value is white; with negative values, 0 is mid-grey); eagerly, as
    TensorFlow 2 does (values in [0, 1], clipped). In a graph the third positional argument is TensorFlow
    1's ``max_outputs``; eagerly it is TensorFlow 2's ``step``.
    """
    data = _pick("image", data, "tensor", tensor)
    g = _graph_of(data)
    if g is not None:
        step, max_outputs, collections = _graph_max_outputs(step, max_outputs, collections)
        with g.as_default():
            t = g._tensor(data, what=f"image summary {name!r}")
        _check_numeric("image", t)
        dims = t.shape.dims
        if dims is not None and (len(dims) != 4 or dims[3] not in (None, 1, 3, 4)):
            raise ShapeError(
                f"image summary {name!r}: {t.name!r} has shape {t.shape}; expected [k, height, width, channels] "
                "with 1, 3 or 4 channels"
            )
        n = max_outputs
        return _in_graph(g, "ImageSummary", name, family, [t],
                         lambda tag, v: _encode.image_values(tag, v, n, True, description), collections,
                         {"max_images": n})  # fmt: skip
    return _eagerly(
        name, family, step, lambda tag: _encode.image_values(tag, _host_value(data), max_outputs, False, description)
    )


def audio(
    name: str,
    data: Any = None,
    sample_rate: Any = None,
    step: Any = None,
    max_outputs: int = 3,
    encoding: str | None = None,
    description: str | None = None,
    collections: Sequence[str] | None = None,
    family: str | None = None,
    *,
    tensor: Any = None,
) -> Any:
    """An audio summary: up to ``max_outputs`` clips of ``[k, frames]`` or ``[k, frames, channels]`` floats
    in [-1, 1], written as 16-bit WAV at ``sample_rate`` Hz (TensorBoard's audio view)."""
    data = _pick("audio", data, "tensor", tensor)
    if sample_rate is None:
        raise SummaryError(f"audio summary {name!r} needs a sample_rate (Hz)")
    if encoding not in (None, "wav"):
        raise SummaryError(f"audio summary {name!r}: the only encoding is 'wav', got {encoding!r}")
    g = _graph_of(data)
    if g is not None:
        step, max_outputs, collections = _graph_max_outputs(step, max_outputs, collections)
        with g.as_default():
            t = g._tensor(data, what=f"audio summary {name!r}")
            rate = g._tensor(sample_rate, _dt.float32, what=f"audio summary {name!r} sample_rate")
        _check_numeric("audio", t)
        n = max_outputs
        return _in_graph(g, "AudioSummaryV2", name, family, [t, rate],
                         lambda tag, v, r: _encode.audio_values(tag, v, r, n, description), collections,
                         {"max_outputs": n})  # fmt: skip
    rate_value = _host_value(sample_rate)
    return _eagerly(
        name,
        family,
        step,
        lambda tag: _encode.audio_values(tag, _host_value(data), rate_value, max_outputs, description),
    )


def text(
    name: str,
    data: Any = None,
    step: Any = None,
    description: str | None = None,
    collections: Sequence[str] | None = None,
    *,
    tensor: Any = None,
) -> Any:
    """A text summary (TensorBoard's text view renders it as Markdown): a str, or an array or nested list
    of str (a table); numbers are written as text.

    In a graph, text given as Python strings is stored in the node; a graph tensor is converted to text
    when the session runs.
    """
    data = _pick("text", data, "tensor", tensor)
    if _is_collections(step) and collections is None:
        step, collections = None, step
    g = _graph_of(data)
    if g is not None:
        _no_graph_step("text", step)
        if isinstance(data, (SymbolicTensor, GraphVariable)):
            with g.as_default():
                t = g._tensor(data, what=f"text summary {name!r}")
            return _in_graph(g, "TensorSummaryV2", name, None, [t],
                             lambda tag, v: [_encode.text_value(tag, v, description)], collections)  # fmt: skip
        fixed = np.asarray(data, dtype=object)
        return _in_graph(g, "TensorSummaryV2", name, None, [],
                         lambda tag: [_encode.text_value(tag, fixed, description)], collections)  # fmt: skip
    return _eagerly(name, None, step, lambda tag: [_encode.text_value(tag, _host_value(data), description)])


def tensor_summary(
    name: str,
    tensor: Any,
    summary_description: str | None = None,
    collections: Sequence[str] | None = None,
    summary_metadata: Any = None,
    family: str | None = None,
    display_name: str | None = None,
) -> Any:
    """TensorFlow 1's ``tf.summary.tensor_summary``: a summary node holding the whole tensor (numbers are
    written as they are, in a ``TensorProto``); eagerly, use :func:`write`."""
    g = _graph_of(tensor)
    if g is None:
        raise SummaryError("tensor_summary() builds a graph node; eagerly, use opcore.summary.write(tag, data, step)")
    meta = _tb.proto("summary_pb2").SummaryMetadata()
    if summary_metadata is not None:
        meta.CopyFrom(summary_metadata)
    if summary_description:
        meta.summary_description = summary_description
    if display_name:
        meta.display_name = display_name
    with g.as_default():
        t = g._tensor(tensor, what=f"tensor summary {name!r}")
    _check_numeric("tensor_summary", t)
    return _in_graph(g, "TensorSummaryV2", name, family, [t],
                     lambda tag, v: [_encode.tensor_value(tag, v, meta)], collections)  # fmt: skip


def write(tag: str, tensor: Any, step: Any = None, metadata: Any = None, name: str | None = None) -> bool:
    """TensorFlow 2's ``tf.summary.write``: write ``tensor`` (numbers or strings) under ``tag`` with optional
    ``SummaryMetadata`` to the default writer; False when no writer is default."""
    return _eagerly(tag, None, step, lambda t: [_encode.tensor_value(t, _host_value(tensor), metadata)])


# --------------------------------------------------------------------------- merging


def merge(inputs: Sequence[Any], collections: Sequence[str] | None = None, name: str | None = None) -> Any:
    """One summary holding the values of all ``inputs`` (summary tensors of one graph; or, eagerly, the
    ``bytes`` of serialized summaries, joined).

    >>> import opcore
    >>> g = opcore.Graph()
    >>> with g.as_default():
    ...     x = opcore.placeholder(opcore.float32, [], name="x")
    ...     merged = opcore.summary.merge([opcore.summary.scalar("a", x), opcore.summary.scalar("b", x * 2.0)])
    >>> with opcore.Session(g) as sess:
    ...     type(sess.run(merged, {x: 1.0}))
    <class 'bytes'>
    """
    if isinstance(inputs, (SymbolicTensor, bytes)):
        inputs = [inputs]
    items = list(inputs)
    if items and all(isinstance(x, (bytes, bytearray)) for x in items):
        return b"".join(bytes(x) for x in items)
    graphs = {x.graph for x in items if isinstance(x, SymbolicTensor)}
    g = graphs.pop() if len(graphs) == 1 else None
    if g is None:
        if graphs:
            raise SummaryError("merge(): the summaries belong to different graphs")
        g = _context.building_graph()
        if g is None:
            raise SummaryError("merge() takes summary tensors of one graph (or the bytes of serialized summaries)")
    for x in items:
        if not isinstance(x, SymbolicTensor) or x.dtype is not _dt.string:
            raise DTypeError(
                f"merge() takes summary tensors (what opcore.summary.scalar/histogram/... return in a graph), got {x!r}"
            )
    _tb.proto("summary_pb2")
    with g.as_default(), g.name_scope("Merge") if name is None else contextlib.nullcontext():
        out = g.host_call(_join, items, "MergeSummary", name or "MergeSummary")
    if collections is not None:
        if not _is_collections(collections):
            raise SummaryError(f"collections must be a list of collection names, got {collections!r}")
        g.add_to_collections(list(collections), out)
    return out


def _join(*values: bytes) -> bytes:
    # Serialized messages concatenate into one message whose repeated fields hold all the values.
    return b"".join(values)


def merge_all(key: str = GraphKeys.SUMMARIES, scope: str | None = None, name: str | None = None) -> Any:
    """:func:`merge` of every summary in collection ``key`` of the graph being built (else the default
    graph) whose name matches regex ``scope``; None when there is none.

    >>> import opcore
    >>> g = opcore.Graph()
    >>> with g.as_default():
    ...     print(opcore.summary.merge_all())
    None
    """
    g = _context.building_graph() or get_default_graph()
    items = [x for x in g.get_collection(key, scope) if isinstance(x, SymbolicTensor)]
    if not items:
        return None
    return merge(items, name=name)


def graph(graph_data: Any, step: Any = None) -> bool:
    """Write a graph (an opcore :class:`~opcore.Graph` or a ``GraphDef``) to the default writer, as
    TensorFlow 2's ``tf.summary.graph`` does; False when no writer is default."""
    writer = default_writer()
    if writer is None or not should_record_summaries():
        return False
    writer.write_graph(graph_data, step)
    return True
