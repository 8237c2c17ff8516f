"""``tf.nn``: activations, convolution and pooling, dropout, losses, with TensorFlow 1's signatures.

Differences from opcore's own functions, all TensorFlow 1's:

- ``dropout(x, keep_prob)`` *keeps* that fraction (opcore's ``dropout(x, rate)`` drops
  ``rate``), and ``keep_prob`` may be a tensor, such as a placeholder fed 0.5 while
  training and 1.0 when testing;
- ``softmax_cross_entropy_with_logits`` sends no gradient to ``labels``
  (``softmax_cross_entropy_with_logits_v2`` does), and both accept ``dim``;
- losses take their arguments by keyword (``labels=``, ``logits=``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat.v1._graph import building, builds
from opcore.compat.v1._ops import _as_graph, _one_of, _static_dims, log_sigmoid
from opcore.compat.v1._ops import sigmoid as sigmoid
from opcore.compat.v1._ops import tanh as tanh
from opcore.errors import OpDefinitionError, ShapeError

__all__ = [
    "avg_pool",
    "batch_normalization",
    "bias_add",
    "conv2d",
    "conv2d_transpose",
    "crelu",
    "dropout",
    "elu",
    "embedding_lookup",
    "in_top_k",
    "l2_loss",
    "l2_normalize",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "max_pool",
    "moments",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2",
    "softplus",
    "softsign",
    "sparse_softmax_cross_entropy_with_logits",
    "swish",
    "tanh",
    "weighted_cross_entropy_with_logits",
    "xw_plus_b",
    "zero_fraction",
]

# --------------------------------------------------------------------------- activations

relu = builds(opcore.relu)
softplus = builds(opcore.softplus)
l2_loss = builds(opcore.l2_loss)


@builds
def relu6(features: Any, name: str | None = None) -> Any:
    """``min(max(features, 0), 6)``."""
    return opcore.minimum(opcore.relu(features), 6.0, name=name)


@builds
def elu(features: Any, name: str | None = None) -> Any:
    """``features`` where positive, ``exp(features) - 1`` elsewhere."""
    x = _as_graph(features)
    neg = opcore.subtract(opcore.exp(opcore.minimum(x, 0.0)), 1.0)
    return opcore.where(opcore.greater(x, 0.0), x, neg, name=name)


@builds
def selu(features: Any, name: str | None = None) -> Any:
    """Scaled ELU with the self-normalising constants of Klambauer et al."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    x = _as_graph(features)
    neg = opcore.multiply(opcore.subtract(opcore.exp(opcore.minimum(x, 0.0)), 1.0), alpha)
    return opcore.multiply(opcore.where(opcore.greater(x, 0.0), x, neg), scale, name=name)


@builds
def leaky_relu(features: Any, alpha: float = 0.2, name: str | None = None) -> Any:
    """``features`` where positive, ``alpha * features`` elsewhere."""
    x = _as_graph(features)
    return opcore.where(opcore.greater(x, 0.0), x, opcore.multiply(x, alpha), name=name)


@builds
def crelu(features: Any, name: str | None = None, axis: int = -1) -> Any:
    """Concatenated ReLU: ``concat([relu(x), relu(-x)], axis)`` (twice the channels)."""
    x = _as_graph(features)
    return opcore.concat([opcore.relu(x), opcore.relu(opcore.negative(x))], axis=axis, name=name)


@builds
def softsign(features: Any, name: str | None = None) -> Any:
    """``features / (1 + |features|)``."""
    x = _as_graph(features)
    return opcore.divide(x, opcore.add(opcore.abs(x), 1.0), name=name)


@builds
def swish(features: Any, name: str | None = None) -> Any:
    """``features * sigmoid(features)``."""
    x = _as_graph(features)
    return opcore.multiply(x, opcore.sigmoid(x), name=name)


def _softmax_like(op: Any, fname: str, doc: str) -> Any:
    def fn(logits: Any, axis: int | None = None, name: str | None = None, dim: int | None = None) -> Any:
        axis = _one_of(axis, dim, "axis", "dim")
        with building():
            return op(logits, axis=-1 if axis is None else axis, name=name)

    fn.__name__ = fn.__qualname__ = fname
    fn.__doc__ = doc
    return fn


softmax = _softmax_like(opcore.softmax, "softmax", "``exp(logits) / sum(exp(logits))`` along ``axis`` (default last).")
log_softmax = _softmax_like(opcore.log_softmax, "log_softmax", "``logits - log(sum(exp(logits)))`` along ``axis``.")


@builds
def bias_add(value: Any, bias: Any, data_format: str | None = None, name: str | None = None) -> Any:
    """``value + bias`` with the 1-D ``bias`` on the channel axis (last, or 1 for ``"NCHW"``)."""
    return opcore.bias_add(value, bias, data_format=data_format or "NHWC", name=name)


@builds
def xw_plus_b(x: Any, weights: Any, biases: Any, name: str | None = None) -> Any:
    """``matmul(x, weights) + biases``."""
    return opcore.bias_add(opcore.matmul(x, weights), biases, name=name)


@builds
def zero_fraction(value: Any, name: str | None = None) -> Any:
    """The fraction of zeros in ``value`` (a float32 scalar)."""
    z = opcore.cast(opcore.equal(value, opcore.zeros_like(value)), _dt.float32)
    return opcore.reduce_mean(z, name=name)


# --------------------------------------------------------------------------- convolution and pooling


@builds
def conv2d(
    input: Any,
    filter: Any = None,
    strides: Any = None,
    padding: Any = None,
    use_cudnn_on_gpu: bool = True,
    data_format: str = "NHWC",
    dilations: Any = (1, 1, 1, 1),
    name: str | None = None,
    filters: Any = None,
) -> Any:
    """2-D convolution: ``input`` [batch, h, w, in] with ``filter`` [kh, kw, in, out]; ``strides``
    has 4 entries (``[1, 2, 2, 1]``), ``padding`` is ``"SAME"`` or ``"VALID"``."""
    filter = _one_of(filter, filters, "filter", "filters")
    if filter is None or strides is None or padding is None:
        raise OpDefinitionError("tf.nn.conv2d needs filter, strides and padding")
    return opcore.conv2d(input, filter, strides, padding, data_format=data_format, dilations=dilations, name=name)


@builds
def conv2d_transpose(
    value: Any,
    filter: Any = None,
    output_shape: Any = None,
    strides: Any = None,
    padding: str = "SAME",
    data_format: str = "NHWC",
    name: str | None = None,
    input: Any = None,
    filters: Any = None,
    dilations: Any = None,
) -> Any:
    """The transpose (gradient) of ``conv2d``: ``value`` [batch, h, w, out] with ``filter`` [kh, kw, in, out]
    gives ``output_shape`` [batch, H, W, in], which must be known when the graph is built."""
    value = _one_of(value, input, "value", "input")
    filter = _one_of(filter, filters, "filter", "filters")
    dims = _static_dims(output_shape, "nn.conv2d_transpose")
    if any(d < 0 for d in dims):
        raise ShapeError(f"tf.nn.conv2d_transpose: output_shape {dims} must be fully known in opcore")
    from opcore.ops.image import _four  # TensorFlow's strides forms, resolved in one place

    return opcore.conv2d_backprop_input(
        opcore.zeros(dims, _as_graph(value).dtype),
        filter,
        value,
        strides=_four(strides, data_format, "strides", "conv2d_transpose"),
        padding=padding,
        data_format=data_format,
        dilations=_four(dilations or 1, data_format, "dilations", "conv2d_transpose"),
        name=name,
    )


@builds
def max_pool(
    value: Any, ksize: Any, strides: Any, padding: str, data_format: str = "NHWC", name: str | None = None,
    input: Any = None,
) -> Any:  # fmt: skip
    """Max pooling over ``ksize`` windows (``[1, 2, 2, 1]``) moved by ``strides``."""
    return opcore.max_pool(_one_of(value, input, "value", "input"), ksize, strides, padding, data_format, name=name)


@builds
def avg_pool(
    value: Any, ksize: Any, strides: Any, padding: str, data_format: str = "NHWC", name: str | None = None,
    input: Any = None,
) -> Any:  # fmt: skip
    """Average pooling over ``ksize`` windows moved by ``strides``."""
    return opcore.avg_pool(_one_of(value, input, "value", "input"), ksize, strides, padding, data_format, name=name)


# --------------------------------------------------------------------------- dropout


def dropout(
    x: Any,
    keep_prob: Any = None,
    noise_shape: Sequence[int] | None = None,
    seed: int | None = None,
    name: str | None = None,
    rate: Any = None,
) -> Any:
    """Keep each element of ``x`` with probability ``keep_prob``, scaled by ``1 / keep_prob``; zero the rest.

    TensorFlow 1's argument is the probability to *keep* (``rate=``, the probability to
    drop, is also accepted). ``keep_prob`` may be a float in (0, 1] or a scalar float
    tensor such as a placeholder, fed 0.5 while training and 1.0 at test time.
    ``noise_shape`` (known when the graph is built) broadcasts one draw over some axes.
    """
    if (keep_prob is None) == (rate is None):
        raise OpDefinitionError("tf.nn.dropout: give keep_prob (or rate), not both")
    with building():
        x = _as_graph(x)
        if not x.dtype.is_floating:
            raise OpDefinitionError(f"tf.nn.dropout: x must be a float tensor, got {x.dtype}")
        if isinstance(keep_prob, (int, float)) or isinstance(rate, (int, float)):
            keep = float(keep_prob) if keep_prob is not None else 1.0 - float(rate)
            if not 0.0 < keep <= 1.0:
                raise OpDefinitionError(f"tf.nn.dropout: keep_prob must be in (0, 1], got {keep!r}")
            if keep == 1.0:
                return opcore.identity(x, name=name)
            if noise_shape is None:
                return opcore.dropout(x, 1.0 - keep, seed=seed, name=name)
            keep_t: Any = keep
        else:
            keep_t = keep_prob if keep_prob is not None else opcore.subtract(1.0, rate)
            keep_t = opcore.cast(keep_t, x.dtype) if _as_graph(keep_t).dtype is not x.dtype else keep_t
            if _as_graph(keep_t).shape.rank not in (None, 0):
                raise ShapeError(f"tf.nn.dropout: keep_prob must be a scalar, got shape {_as_graph(keep_t).shape}")
        # A tensor probability (or a noise shape): composed from opcore's ops, as TensorFlow 1 does.
        if noise_shape is None:
            u = opcore.random_uniform_like(x, *opcore.ops.random.get_seed(seed))
        else:
            u = opcore.random_uniform(list(noise_shape), dtype=x.dtype, seed=seed)
        kept = opcore.less(u, keep_t)
        scaled = opcore.divide(x, keep_t)
        return opcore.multiply(scaled, opcore.cast(kept, x.dtype), name=name)


# --------------------------------------------------------------------------- losses


def _labels_logits(fn: str, labels: Any, logits: Any, sentinel: Any) -> None:
    if sentinel is not None:
        raise OpDefinitionError(f"tf.nn.{fn}: pass labels= and logits= by keyword")
    if labels is None or logits is None:
        raise OpDefinitionError(f"tf.nn.{fn}: labels and logits are required")


def _last_axis(fn: str, logits: Any, axis: int | None) -> None:
    if axis is None or axis == -1:
        return
    rank = _as_graph(logits).shape.rank
    if rank is None or axis % rank != rank - 1:
        raise OpDefinitionError(f"tf.nn.{fn}: opcore computes the softmax over the last axis; got axis={axis}")


def softmax_cross_entropy_with_logits(
    _sentinel: Any = None,
    labels: Any = None,
    logits: Any = None,
    dim: int = -1,
    name: str | None = None,
    axis: int | None = None,
) -> Any:
    """Per-example cross-entropy of ``labels`` (a distribution per row) and ``softmax(logits)``.

    As in TensorFlow 1, no gradient flows into ``labels`` (use the ``_v2`` function for that).
    """
    _labels_logits("softmax_cross_entropy_with_logits", labels, logits, _sentinel)
    _last_axis("softmax_cross_entropy_with_logits", logits, _one_of(axis, None if dim == -1 else dim, "axis", "dim"))
    with building():
        return opcore.softmax_cross_entropy_with_logits(labels=opcore.stop_gradient(labels), logits=logits, name=name)


def softmax_cross_entropy_with_logits_v2(
    labels: Any = None, logits: Any = None, axis: int | None = None, name: str | None = None, dim: int | None = None
) -> Any:
    """Per-example cross-entropy of ``labels`` and ``softmax(logits)``; gradients flow into both."""
    _labels_logits("softmax_cross_entropy_with_logits_v2", labels, logits, None)
    _last_axis("softmax_cross_entropy_with_logits_v2", logits, _one_of(axis, dim, "axis", "dim"))
    with building():
        return opcore.softmax_cross_entropy_with_logits(labels=labels, logits=logits, name=name)


def sparse_softmax_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, name: str | None = None
) -> Any:
    """Per-example cross-entropy of class indices ``labels`` (int32/int64) and ``softmax(logits)``."""
    _labels_logits("sparse_softmax_cross_entropy_with_logits", labels, logits, _sentinel)
    with building():
        return opcore.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits, name=name)


def sigmoid_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, name: str | None = None
) -> Any:
    """Elementwise logistic loss of ``labels`` in [0, 1] and ``sigmoid(logits)``, computed stably."""
    _labels_logits("sigmoid_cross_entropy_with_logits", labels, logits, _sentinel)
    with building():
        return opcore.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits, name=name)


def weighted_cross_entropy_with_logits(
    labels: Any = None, logits: Any = None, pos_weight: Any = None, name: str | None = None, targets: Any = None
) -> Any:
    """Logistic loss with positive examples weighted by ``pos_weight``:
    ``(1 - z) * x + (1 + (q - 1) * z) * (log(1 + exp(-|x|)) + max(-x, 0))``."""
    labels = _one_of(labels, targets, "labels", "targets")
    if labels is None or logits is None or pos_weight is None:
        raise OpDefinitionError("tf.nn.weighted_cross_entropy_with_logits: labels, logits and pos_weight are required")
    with building():
        x, z = _as_graph(logits), _as_graph(labels)
        log_weight = opcore.add(opcore.multiply(opcore.subtract(pos_weight, 1.0), z), 1.0)
        soft = opcore.add(opcore.log1p(opcore.exp(opcore.negative(opcore.abs(x)))), opcore.relu(opcore.negative(x)))
        return opcore.add(opcore.multiply(opcore.subtract(1.0, z), x), opcore.multiply(log_weight, soft), name=name)


# --------------------------------------------------------------------------- normalisation and lookups


def l2_normalize(x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None, dim: Any = None) -> Any:
    """``x / sqrt(max(sum(x ** 2, axis), epsilon))``."""
    axis = _one_of(axis, dim, "axis", "dim")
    with building():
        sq = opcore.reduce_sum(opcore.square(x), axis=axis, keepdims=True)
        return opcore.multiply(x, opcore.rsqrt(opcore.maximum(sq, epsilon)), name=name)


def moments(
    x: Any,
    axes: Sequence[int],
    shift: Any = None,
    name: str | None = None,
    keep_dims: bool | None = None,
    keepdims: bool | None = None,
) -> tuple[Any, Any]:
    """The mean and variance of ``x`` over ``axes``."""
    keep = bool(_one_of(keepdims, keep_dims, "keepdims", "keep_dims"))
    with building() as g, g.name_scope(name or "moments"):
        mean = opcore.reduce_mean(x, axis=list(axes), keepdims=True)
        variance = opcore.reduce_mean(
            opcore.square(opcore.subtract(x, opcore.stop_gradient(mean))), axis=list(axes), keepdims=True
        )
        if not keep:
            mean = opcore.squeeze(mean, axis=list(axes), name="mean")
            variance = opcore.squeeze(variance, axis=list(axes), name="variance")
        return mean, variance


def batch_normalization(
    x: Any, mean: Any, variance: Any, offset: Any, scale: Any, variance_epsilon: float, name: str | None = None
) -> Any:
    """``(x - mean) / sqrt(variance + variance_epsilon) * scale + offset`` (``offset``/``scale`` may be None)."""
    with building():
        inv = opcore.rsqrt(opcore.add(variance, variance_epsilon))
        if scale is not None:
            inv = opcore.multiply(inv, scale)
        y = opcore.multiply(opcore.subtract(x, mean), inv)
        return opcore.add(y, offset, name=name) if offset is not None else opcore.identity(y, name=name)


def embedding_lookup(
    params: Any,
    ids: Any,
    partition_strategy: str = "mod",
    name: str | None = None,
    validate_indices: bool = True,
    max_norm: float | None = None,
) -> Any:
    """The rows of ``params`` at ``ids`` (one table; a list of one table is accepted)."""
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise OpDefinitionError("tf.nn.embedding_lookup: opcore takes one table, not a partitioned list")
        params = params[0]
    with building():
        rows = opcore.gather(params, ids, name=None if max_norm else name)
        if max_norm is None:
            return rows
        norms = opcore.sqrt(opcore.reduce_sum(opcore.square(rows), axis=-1, keepdims=True))
        return opcore.multiply(
            rows, opcore.minimum(opcore.divide(max_norm, opcore.maximum(norms, 1e-12)), 1.0), name=name
        )


def in_top_k(predictions: Any, targets: Any, k: int, name: str | None = None) -> Any:
    """Whether each row's target class is among its ``k`` largest predictions (ties count as in)."""
    with building():
        p = _as_graph(predictions)
        classes = p.shape[-1] if p.shape.rank is not None else None
        if classes is None:
            raise ShapeError(f"tf.nn.in_top_k: the number of classes (last dim of {p.shape}) must be known")
        target_score = opcore.reduce_sum(opcore.multiply(p, opcore.one_hot(targets, classes, dtype=p.dtype)), axis=1,
                                         keepdims=True)  # fmt: skip
        above = opcore.reduce_sum(opcore.cast(opcore.greater(p, target_score), _dt.int32), axis=1)
        return opcore.less(above, k, name=name)


_NOT_PROVIDED = {
    "rnn_cell": "recurrent cells are not provided by opcore",
    "dynamic_rnn": "recurrent networks are not provided by opcore",
    "static_rnn": "recurrent networks are not provided by opcore",
    "bidirectional_dynamic_rnn": "recurrent networks are not provided by opcore",
    "lrn": "local response normalization is not provided by opcore",
    "local_response_normalization": "local response normalization is not provided by opcore",
    "depthwise_conv2d": "depthwise convolution is not provided by opcore (tf.nn.conv2d is)",
    "separable_conv2d": "separable convolution is not provided by opcore (tf.nn.conv2d is)",
    "conv1d": "1-D convolution is not provided as such: reshape to [batch, 1, width, channels] and use tf.nn.conv2d",
    "conv3d": "3-D convolution is not provided by opcore",
    "top_k": "tf.nn.top_k is not provided (tf.nn.in_top_k and tf.argmax are)",
    "fused_batch_norm": "use tf.nn.moments and tf.nn.batch_normalization",
    "sampled_softmax_loss": "sampled losses are not provided; use tf.nn.sparse_softmax_cross_entropy_with_logits",
    "nce_loss": "sampled losses are not provided; use tf.nn.sparse_softmax_cross_entropy_with_logits",
    "ctc_loss": "CTC is not provided by opcore",
}


def __getattr__(name: str) -> Any:
    from opcore.compat import _moved

    hint = _NOT_PROVIDED.get(name)
    raise _moved.missing("opcore.compat.v1.nn", name, f"tf.nn.{name}: {hint}" if hint else None, __all__)
