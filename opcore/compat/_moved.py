"""Where TensorFlow 1's names live in opcore: the hints behind ``AttributeError`` messages.

``opcore.nn`` or ``opcore.InteractiveSession`` do not exist; a TensorFlow 1 user who
types them gets a message that names the TensorFlow 1 spelling and the opcore one
instead of a bare ``AttributeError``. The same for names :mod:`opcore.compat.v1`
does not provide (``tf.contrib``, ``tf.cond``): what to use instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["OPCORE", "V1", "MissingNameError", "missing", "opcore_hint", "v1_hint"]

_CAST = "opcore.cast(x, opcore.{})"

#: Names looked up on ``opcore``: TensorFlow 1 name -> what to use in opcore.
OPCORE: dict[str, tuple[str, str]] = {
    "nn": (
        "tf.nn",
        "the top-level ops (opcore.softmax, opcore.relu, opcore.conv2d, opcore.max_pool, "
        "opcore.dropout(x, rate), opcore.softmax_cross_entropy_with_logits(labels=, logits=)), "
        "or opcore.compat.v1.nn with TensorFlow 1's signatures (keep_prob)",
    ),
    "InteractiveSession": (
        "tf.InteractiveSession()",
        "sess = opcore.Session(); then `with sess.as_default():` for t.eval() and op.run() "
        "(or opcore.compat.v1.InteractiveSession)",
    ),
    "ConfigProto": (
        "tf.ConfigProto",
        "opcore.Session(graph, backend=...) takes no config; the backend picks the device "
        "(opcore.compat.v1.ConfigProto is accepted and ignored)",
    ),
    "GPUOptions": (
        "tf.GPUOptions",
        "no options: the backend manages device memory (opcore.compat.v1.GPUOptions is accepted and ignored)",
    ),
    "device": (
        "tf.device('/gpu:0')",
        "opcore.use_backend('cuda') (or 'opencl'); a session runs on one backend: opcore.Session(backend='cuda')",
    ),
    "set_random_seed": ("tf.set_random_seed(seed)", "opcore.set_seed(seed)"),
    "to_float": ("tf.to_float(x)", _CAST.format("float32")),
    "to_double": ("tf.to_double(x)", _CAST.format("float64")),
    "to_int32": ("tf.to_int32(x)", _CAST.format("int32")),
    "to_int64": ("tf.to_int64(x)", _CAST.format("int64")),
    "div": ("tf.div(x, y)", "opcore.divide(x, y) (true division) or opcore.floor_divide(x, y)"),
    "truediv": ("tf.truediv(x, y)", "opcore.divide(x, y), or x / y"),
    "realdiv": ("tf.realdiv(x, y)", "opcore.divide(x, y)"),
    "floordiv": ("tf.floordiv(x, y)", "opcore.floor_divide(x, y), or x // y"),
    "floormod": ("tf.floormod(x, y)", "opcore.mod(x, y), or x % y"),
    "sub": ("tf.sub(x, y)", "opcore.subtract(x, y)"),
    "mul": ("tf.mul(x, y)", "opcore.multiply(x, y)"),
    "neg": ("tf.neg(x)", "opcore.negative(x)"),
    "bool": ("tf.bool", "opcore.bool_"),
    "half": ("tf.half", "opcore.float16"),
    "double": ("tf.double", "opcore.float64"),
    "initialize_all_variables": ("tf.initialize_all_variables()", "opcore.global_variables_initializer()"),
    "local_variables_initializer": (
        "tf.local_variables_initializer()",
        "no initializer: opcore graphs have no local variables (opcore.compat.v1's is a node that does nothing)",
    ),
    "variable_scope": (
        "tf.variable_scope",
        "opcore.name_scope for names; share variables by sharing Python objects (a layer, a Variable), "
        "or use opcore.compat.v1.variable_scope with tf.get_variable",
    ),
    "get_variable": (
        "tf.get_variable(name, shape, initializer=...)",
        "opcore.Variable(initializer(shape, dtype), name=...), or opcore.compat.v1.get_variable",
    ),
    "examples": (
        "tensorflow.examples.tutorials.mnist.input_data",
        "opcore.datasets.mnist.read_data_sets(data_dir, one_hot=True), or "
        "opcore.compat.v1.examples.tutorials.mnist.input_data",
    ),
    "input_data": ("input_data.read_data_sets", "opcore.datasets.mnist.read_data_sets"),
    "contrib": (
        "tf.contrib",
        "opcore.initializers.glorot_uniform_initializer for contrib.layers.xavier_initializer and "
        "opcore.layers.flatten for contrib.layers.flatten (contrib itself is not part of opcore)",
    ),
    "app": ("tf.app.run() / tf.app.flags", "argparse, or opcore.compat.v1.app"),
    "flags": ("tf.flags", "argparse, or opcore.compat.v1.flags"),
    "logging": ("tf.logging", "Python's logging module (opcore.compat.v1.logging maps onto it)"),
    "placeholder_with_default": ("tf.placeholder_with_default", "opcore.placeholder, fed on every run"),
    "shape": ("tf.shape(x)", "x.shape (the static shape; opcore has no Shape op)"),
    "size": ("tf.size(x)", "x.shape.num_elements()"),
    "rank": ("tf.rank(x)", "x.shape.rank"),
    "get_collection": (
        "tf.get_collection",
        "opcore.global_variables() / opcore.trainable_variables(), or opcore.compat.v1.get_collection",
    ),
    "GraphKeys": ("tf.GraphKeys", "opcore.compat.v1.GraphKeys"),
    "cond": ("tf.cond", "Python `if` when executing eagerly, or opcore.where to select values in a graph"),
    "while_loop": ("tf.while_loop", "a Python loop when executing eagerly"),
    "Print": ("tf.Print", "print(t) when executing eagerly, or fetch the tensor with sess.run"),
    "py_func": ("tf.py_func", "a Python function called eagerly (graphs run only ops)"),
    "clip_by_value": ("tf.clip_by_value(t, lo, hi)", "opcore.minimum(opcore.maximum(t, lo), hi)"),
    "add_n": ("tf.add_n(tensors)", "opcore.reduce_sum(opcore.stack(tensors), axis=0)"),
    "global_variables_initialiser": ("tf.global_variables_initializer", "opcore.global_variables_initializer"),
    "TensorShape": ("tf.TensorShape", "opcore.Shape"),
    "random": ("tf.random.normal", "opcore.random_normal / opcore.random_uniform / opcore.truncated_normal"),
    "math": ("tf.math.*", "the same names at the top level: opcore.log, opcore.reduce_sum, opcore.argmax"),
    "estimator": ("tf.estimator", "opcore.keras models, or a session loop"),
    "data": ("tf.data", "NumPy batches fed to placeholders (opcore.datasets' DataSet.next_batch)"),
}

#: Names :mod:`opcore.compat.v1` does not provide: TensorFlow 1 name -> what to do instead.
V1: dict[str, str] = {
    "contrib": "tf.contrib is not provided: xavier_initializer is tf.glorot_uniform_initializer, "
    "contrib.layers.flatten is tf.layers.flatten, contrib.layers.fully_connected is tf.layers.dense",
    "estimator": "tf.estimator is not provided: use tf.keras (opcore.keras) models, or a session loop",
    "data": "tf.data is not provided: feed NumPy batches through feed_dict "
    "(input_data's DataSet.next_batch, or opcore.datasets)",
    "cond": "tf.cond is not provided (opcore has no control-flow ops): compute both branches and pick with tf.where",
    "case": "tf.case is not provided (opcore has no control-flow ops): compute the branches and pick with tf.where",
    "while_loop": "tf.while_loop is not provided (opcore has no control-flow ops): unroll the loop in Python",
    "scan": "tf.scan is not provided (opcore has no control-flow ops): unroll the loop in Python",
    "map_fn": "tf.map_fn is not provided (opcore has no control-flow ops): write the function over the batch axis",
    "py_func": "tf.py_func is not provided: graphs run only opcore ops",
    "py_function": "tf.py_function is not provided: graphs run only opcore ops",
    "Print": "tf.Print is not provided: fetch the tensor with sess.run and print it",
    "print": "tf.print is not provided: fetch the tensor with sess.run and print it",
    "placeholder_with_default": "tf.placeholder_with_default is not provided: use tf.placeholder and feed it every run",
    "sparse": "tf.sparse (SparseTensor) is not provided: opcore tensors are dense",
    "SparseTensor": "tf.SparseTensor is not provided: opcore tensors are dense",
    "string": "tf.string is not provided: opcore tensors hold numbers and bools",
    "complex64": "tf.complex64 is not provided: opcore's dtypes are bool, int8-64, uint8 and float16-64",
    "complex128": "tf.complex128 is not provided: opcore's dtypes are bool, int8-64, uint8 and float16-64",
    "bfloat16": "tf.bfloat16 is not provided: opcore's floats are float16, float32 and float64",
    "uint16": "tf.uint16 is not provided: opcore's unsigned type is uint8",
    "uint32": "tf.uint32 is not provided: opcore's unsigned type is uint8",
    "uint64": "tf.uint64 is not provided: opcore's unsigned type is uint8",
    "image": "tf.image is not provided: prepare images with NumPy before feeding them",
    "io": "tf.io is not provided: read files with Python and feed NumPy arrays",
    "gfile": "tf.gfile is not provided: use Python's os and open()",
    "queue": "queues are not provided: feed NumPy batches through feed_dict",
    "FIFOQueue": "queues are not provided: feed NumPy batches through feed_dict",
    "metrics": "tf.metrics (streaming metrics with local variables) is not provided: compute accuracy as "
    "tf.reduce_mean(tf.cast(tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1)), tf.float32))",
    "saved_model": "tf.saved_model is not provided: save with tf.train.Saver",
    "lite": "tf.lite is not provided",
    "distribute": "tf.distribute is not provided: see opcore.distributed for data-parallel training over MPI",
    "tpu": "tf.tpu is not provided",
    "debugging": "tf.debugging is not provided",
    "linalg": "tf.linalg is not provided: tf.matmul and tf.transpose are",
    "einsum": "tf.einsum is not provided: write it with tf.matmul, tf.transpose and tf.reduce_sum",
    "enable_eager_execution": "tf.enable_eager_execution is not provided in opcore.compat.v1, which builds graphs: "
    "for eager code use opcore itself (import opcore), which executes eagerly",
    "executing_eagerly": "opcore.compat.v1 always builds graphs; opcore itself executes eagerly "
    "(opcore.executing_eagerly())",
    "shape_n": "tf.shape_n is not provided: read each tensor's static .shape",
    "dynamic_partition": "tf.dynamic_partition is not provided",
    "segment_sum": "tf.segment_sum is not provided",
    "unsorted_segment_sum": "tf.unsorted_segment_sum is not provided",
    "scatter_update": "tf.scatter_update is not provided: build the new value and tf.assign it",
    "top_k": "tf.nn.top_k is not provided",
    "cumsum": "tf.cumsum is not provided",
    "mul": "tf.mul was renamed tf.multiply in TensorFlow 1.0",
    "sub": "tf.sub was renamed tf.subtract in TensorFlow 1.0",
    "neg": "tf.neg was renamed tf.negative in TensorFlow 1.0",
    "initialize_variables": "tf.initialize_variables was renamed tf.variables_initializer",
    "all_variables": "tf.all_variables was renamed tf.global_variables",
    "select": "tf.select was renamed tf.where in TensorFlow 1.0",
    "pack": "tf.pack was renamed tf.stack in TensorFlow 1.0",
    "unpack": "tf.unpack was renamed tf.unstack in TensorFlow 1.0",
}


class MissingNameError(AttributeError):
    """A name the module does not have, with where to find it instead."""


def missing(module: str, name: str, hint: str | None, known: Iterable[str] = ()) -> MissingNameError:
    """The error for ``module.name``: the hint when there is one, otherwise close spellings."""
    if hint:
        return MissingNameError(f"{module} has no {name!r}: {hint}")
    close = difflib.get_close_matches(name, list(known), n=3)
    suffix = f"; did you mean {', '.join(close)}?" if close else ""
    return MissingNameError(f"module {module!r} has no attribute {name!r}{suffix}")


def opcore_hint(name: str) -> str | None:
    """The message part for ``opcore.<name>``: TensorFlow 1's spelling and opcore's."""
    entry = OPCORE.get(name)
    if entry is None:
        return None
    tf1, use = entry
    return f"in TensorFlow 1 this is {tf1}; in opcore use {use}"


def v1_hint(name: str) -> str | None:
    return V1.get(name)
