"""TensorBoard summaries: ``tf.summary`` of TensorFlow 1 and of TensorFlow 2, on opcore.

TensorFlow 1, in a graph run by a session::

    loss_summary = opcore.summary.scalar("loss", cost)          # a summary node
    opcore.summary.histogram("weights", w)
    merged = opcore.summary.merge_all()
    writer = opcore.summary.FileWriter("logs", graph)            # writes the graph too
    summary, _ = sess.run([merged, train], feed)                 # bytes of a Summary
    writer.add_summary(summary, step)

TensorFlow 2, eagerly::

    writer = opcore.summary.create_file_writer("logs")
    with writer.as_default():
        opcore.summary.scalar("loss", loss, step=step)

Event files are TensorBoard's own: TensorBoard's messages (the ``tensorboard``
package) in records framed by tensorboardX's ``RecordWriter`` with their CRC-32C
checks. Install the extra ``opcore[tensorboard]``; ``tensorboard --logdir logs``
shows them. The messages ``Summary``, ``Event``, ``SessionLog``, ``HistogramProto``
and ``GraphDef`` are TensorBoard's generated classes, loaded on first use.
"""

from __future__ import annotations

from typing import Any

from opcore.summary import experimental
from opcore.summary._graph_def import MAX_CONST_BYTES, as_graph_def, to_graph_def
from opcore.summary._summaries import (
    audio,
    graph,
    histogram,
    image,
    merge,
    merge_all,
    scalar,
    tensor_summary,
    text,
    write,
)
from opcore.summary._tb import available
from opcore.summary._writer import (
    FileWriter,
    FileWriterCache,
    SummaryWriter,
    create_file_writer,
    create_noop_writer,
    flush,
    get_step,
    record_if,
    set_step,
    should_record_summaries,
)

__all__ = [
    "MAX_CONST_BYTES",
    "FileWriter",
    "FileWriterCache",
    "SummaryWriter",
    "as_graph_def",
    "audio",
    "available",
    "create_file_writer",
    "create_noop_writer",
    "experimental",
    "flush",
    "get_step",
    "graph",
    "histogram",
    "image",
    "merge",
    "merge_all",
    "record_if",
    "scalar",
    "set_step",
    "should_record_summaries",
    "tensor_summary",
    "text",
    "to_graph_def",
    "write",
]

# TensorBoard's message classes, by the names TensorFlow gives them (tf.summary.Summary ...).
_PROTOS = {
    "Summary": ("summary_pb2", "Summary"),
    "SummaryDescription": ("summary_pb2", "SummaryDescription"),
    "SummaryMetadata": ("summary_pb2", "SummaryMetadata"),
    "HistogramProto": ("summary_pb2", "HistogramProto"),
    "Event": ("event_pb2", "Event"),
    "SessionLog": ("event_pb2", "SessionLog"),
    "TaggedRunMetadata": ("event_pb2", "TaggedRunMetadata"),
    "GraphDef": ("graph_pb2", "GraphDef"),
}


def __getattr__(name: str) -> Any:
    found = _PROTOS.get(name)
    if found is None:
        raise AttributeError(f"module 'opcore.summary' has no attribute {name!r}")
    from opcore.summary import _tb

    return getattr(_tb.proto(found[0]), found[1])
