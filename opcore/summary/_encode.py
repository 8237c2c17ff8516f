"""NumPy values to TensorBoard's ``Summary.Value`` messages: scalars, histograms, images, audio and text.

The same encoders serve graph summaries (run by a session) and eager ones (written at
once). Values use the fields TensorBoard reads everywhere: ``simple_value`` for
scalars, ``histo`` for histograms, PNG ``image`` and WAV ``audio``, and a string
tensor with the text plugin's metadata for text.
"""

from __future__ import annotations

import io
import re
import struct
import sys
import wave
import zlib
from typing import Any

import numpy as np

from opcore.errors import DTypeError, ShapeError, SummaryError
from opcore.summary import _tb

__all__ = [
    "audio_values",
    "clean_tag",
    "default_bucket_limits",
    "histogram_proto",
    "image_values",
    "png",
    "scalar_value",
    "tensor_value",
    "text_value",
    "wav",
]

_BAD_TAG = re.compile(r"[^-/\w.]")


def clean_tag(name: Any, what: str = "summary name") -> str:
    """A valid tag from ``name``: characters other than letters, digits, ``_ - . /`` become ``_`` and leading
    slashes go (as TensorFlow 1 does)."""
    if not isinstance(name, str):
        raise SummaryError(f"the {what} must be a str, got {type(name).__name__} {name!r}")
    tag = _BAD_TAG.sub("_", name).lstrip("/")
    if not tag:
        raise SummaryError(f"the {what} {name!r} leaves an empty tag")
    return tag


def _numeric(value: Any, tag: str, kind: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"{kind} summary {tag!r}: expected numbers, got an array of dtype {arr.dtype}")
    return arr


def _metadata(description: str | None, plugin: str | None = None) -> Any:
    summary_pb2 = _tb.proto("summary_pb2")
    meta = summary_pb2.SummaryMetadata()
    if description:
        meta.summary_description = description
    if plugin is not None:
        meta.plugin_data.plugin_name = plugin
    return meta


# --------------------------------------------------------------------------- scalars


def scalar_value(tag: str, value: Any, description: str | None = None) -> Any:
    """A ``simple_value``: ``value`` must hold exactly one number."""
    arr = _numeric(value, tag, "scalar")
    if arr.size != 1:
        raise ShapeError(f"scalar summary {tag!r}: expected one value, got an array of shape {arr.shape}")
    v = _tb.proto("summary_pb2").Summary.Value(tag=tag, simple_value=float(arr.reshape(())))
    if description:
        v.metadata.CopyFrom(_metadata(description))
    return v


# --------------------------------------------------------------------------- histograms

_LIMITS: np.ndarray | None = None


def default_bucket_limits() -> np.ndarray:
    """TensorFlow 1's histogram buckets: edges growing by 10% from 1e-12 to 1e20 on both sides of zero,
    closed by +-DBL_MAX; bucket ``i`` holds the values in ``[limit[i-1], limit[i])``."""
    global _LIMITS
    if _LIMITS is None:
        n = int(np.ceil(np.log(1e20 / 1e-12) / np.log(1.1)))
        pos = 1e-12 * 1.1 ** np.arange(n, dtype=np.float64)
        pos = np.append(pos[pos < 1e20], sys.float_info.max)
        _LIMITS = np.concatenate([-pos[::-1], [0.0], pos])
    return _LIMITS


def histogram_proto(values: Any, tag: str, buckets: int | None = None) -> Any:
    """A ``HistogramProto`` of ``values``: TensorFlow 1's exponential buckets (runs of empty buckets merged)
    when ``buckets`` is None, else ``buckets`` equal-width buckets between the smallest and largest value (as
    TensorFlow 2 draws them). Non-finite values are refused, as TensorFlow refuses them."""
    if buckets is not None and (isinstance(buckets, bool) or not isinstance(buckets, (int, np.integer)) or buckets < 1):
        raise SummaryError(f"histogram summary {tag!r}: buckets must be a positive int, got {buckets!r}")
    proto = _tb.proto("summary_pb2").HistogramProto()
    # Sorted once, the values give min, max and the non-finite check from their ends (NaN sorts last), and the
    # bucket counts from one search per bucket limit rather than one per value: several times faster.
    ordered = np.sort(_numeric(values, tag, "histogram").reshape(-1)).astype(np.float64, copy=False)
    n = ordered.size
    if n == 0:
        return proto
    lo, hi = float(ordered[0]), float(ordered[-1])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = "NaN" if np.isnan(hi) else "Inf"
        raise SummaryError(f"histogram summary {tag!r}: the values hold {bad}; a histogram needs finite numbers")
    proto.min, proto.max, proto.num = lo, hi, float(n)
    with np.errstate(over="ignore"):  # huge finite values: an infinite sum of squares, as TensorFlow's
        proto.sum = float(ordered.sum())
        proto.sum_squares = float(np.dot(ordered, ordered))
    if buckets is None:
        limits = default_bucket_limits()
        below = np.searchsorted(ordered, limits, side="left")  # how many values lie below each limit
        counts = np.diff(below, prepend=0)
        counts[-1] += n - below[-1]  # DBL_MAX itself goes to the last bucket
        # Keep non-empty buckets; a run of empty ones becomes one empty bucket ending where the run ends.
        empty = counts == 0
        keep = ~empty
        keep[:-1] |= ~empty[1:]
        keep[-1] = True
        proto.bucket_limit.extend(limits[keep].tolist())
        proto.bucket.extend(counts[keep].astype(np.float64).tolist())
        return proto
    if lo == hi:
        proto.bucket_limit.append(hi)
        proto.bucket.append(float(n))
        return proto
    counts, edges = np.histogram(ordered, bins=int(buckets), range=(lo, hi))
    proto.bucket_limit.extend(edges[1:].tolist())
    proto.bucket.extend(counts.astype(np.float64).tolist())
    return proto


# --------------------------------------------------------------------------- images


def png(image: np.ndarray) -> bytes:
    """PNG bytes of a ``uint8`` image of shape ``[height, width, channels]`` (1 grey, 2 grey+alpha, 3 RGB,
    4 RGBA): one IDAT chunk, every row with filter type 0."""
    h, w, c = image.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.zeros((h, 1 + w * c), np.uint8)
    rows[:, 1:] = image.reshape(h, w * c)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _to_uint8(image: np.ndarray, rescale: bool) -> np.ndarray:
    """One ``[h, w, c]`` image as uint8. Floats: with ``rescale`` (TensorFlow 1), non-negative images are
    scaled so their largest value is 255, others so that 0 lands on 128 and the largest magnitude on 1 or
    255; without it (TensorFlow 2), values in [0, 1] map to [0, 255] and the rest are clipped. Non-finite
    pixels are painted red."""
    if image.dtype == np.uint8:
        return image
    x = image.astype(np.float64)
    if image.dtype.kind in "biu":
        return np.clip(x, 0, 255).astype(np.uint8)
    finite = np.isfinite(x)
    bad = ~finite.all(axis=-1)
    x = np.where(finite, x, 0.0)
    if rescale:
        lo = float(x.min()) if x.size else 0.0
        hi = float(x.max()) if x.size else 0.0
        if lo < 0:
            top = max(-lo, hi)
            scale, offset = (127.0 / top if top > 0 else 0.0), 128.0
        else:
            scale, offset = (255.0 / hi if hi > 0 else 0.0), 0.0
        out = np.clip(np.floor(x * scale + offset + 0.5), 0, 255).astype(np.uint8)
    else:
        out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if bad.any():
        red = np.array([255, 0, 0, 255][: image.shape[-1]] if image.shape[-1] > 1 else [255], np.uint8)
        out[bad] = red
    return out


def image_values(tag: str, images: Any, max_outputs: int, rescale: bool, description: str | None = None) -> list[Any]:
    """``Summary.Image`` values for up to ``max_outputs`` images of a ``[k, height, width, channels]`` batch,
    tagged ``tag/image`` (one image) or ``tag/image/0``, ``tag/image/1`` ... (as TensorFlow 1 tags them)."""
    arr = _numeric(images, tag, "image")
    if arr.ndim != 4:
        raise ShapeError(
            f"image summary {tag!r}: expected a batch of images of shape [k, height, width, channels], "
            f"got shape {arr.shape}"
        )
    if arr.shape[-1] not in (1, 3, 4):
        raise ShapeError(
            f"image summary {tag!r}: images need 1 (grey), 3 (RGB) or 4 (RGBA) channels, got {arr.shape[-1]}"
        )
    n = _max_outputs(max_outputs, tag, "image")
    summary_pb2 = _tb.proto("summary_pb2")
    out = []
    chosen = arr[:n]
    for i, image in enumerate(chosen):
        h, w, c = image.shape
        encoded = png(_to_uint8(image, rescale))
        img = summary_pb2.Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=encoded)
        v = summary_pb2.Summary.Value(tag=f"{tag}/image" if n == 1 else f"{tag}/image/{i}", image=img)
        if description:
            v.metadata.CopyFrom(_metadata(description))
        out.append(v)
    return out


def _max_outputs(value: Any, tag: str, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SummaryError(f"{kind} summary {tag!r}: max_outputs must be a positive int, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- audio


def wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes of float ``samples`` in [-1, 1] (clipped), shape ``[frames, channels]``."""
    pcm = np.round(np.clip(np.nan_to_num(samples.astype(np.float64)), -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as f:
        f.setnchannels(pcm.shape[1])
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
    return buf.getvalue()


def audio_values(tag: str, audio: Any, sample_rate: Any, max_outputs: int, description: str | None = None) -> list[Any]:
    """``Summary.Audio`` values (WAV) for up to ``max_outputs`` clips of ``[k, frames]`` or
    ``[k, frames, channels]`` floats in [-1, 1], tagged ``tag/audio`` or ``tag/audio/i``."""
    arr = _numeric(audio, tag, "audio")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ShapeError(f"audio summary {tag!r}: expected shape [k, frames] or [k, frames, channels], got {arr.shape}")
    rate = np.asarray(sample_rate)
    if rate.size != 1 or rate.dtype.kind not in "iuf" or not float(rate.reshape(())) > 0:
        raise SummaryError(f"audio summary {tag!r}: sample_rate must be one positive number, got {sample_rate!r}")
    hz = int(float(rate.reshape(())))
    n = _max_outputs(max_outputs, tag, "audio")
    summary_pb2 = _tb.proto("summary_pb2")
    out = []
    for i, clip in enumerate(arr[:n]):
        encoded = wav(clip, hz)
        a = summary_pb2.Summary.Audio(
            sample_rate=float(hz),
            num_channels=clip.shape[1],
            length_frames=clip.shape[0],
            encoded_audio_string=encoded,
            content_type="audio/wav",
        )
        v = summary_pb2.Summary.Value(tag=f"{tag}/audio" if n == 1 else f"{tag}/audio/{i}", audio=a)
        if description:
            v.metadata.CopyFrom(_metadata(description))
        out.append(v)
    return out


# --------------------------------------------------------------------------- text


def _as_bytes(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, (float, np.floating)):
        return repr(float(x)).encode()
    return str(x).encode("utf-8")


def text_value(tag: str, data: Any, description: str | None = None) -> Any:
    """A string tensor with the text plugin's metadata (TensorBoard renders each string as Markdown).

    ``data`` is a str, bytes, or an array or nested list of them (numbers are written as text)."""
    arr = np.asarray(data, dtype=object)
    flat = [_as_bytes(x) for x in arr.reshape(-1)]
    tensor_pb2 = _tb.proto("tensor_pb2")
    shape_pb2 = _tb.proto("tensor_shape_pb2")
    types_pb2 = _tb.proto("types_pb2")
    shape = shape_pb2.TensorShapeProto(dim=[shape_pb2.TensorShapeProto.Dim(size=d) for d in arr.shape])
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=flat)
    summary_pb2 = _tb.proto("summary_pb2")
    return summary_pb2.Summary.Value(tag=tag, metadata=_metadata(description, plugin="text"), tensor=tensor)


_NP_TO_DT = {
    "bool": "DT_BOOL",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "float16": "DT_HALF",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
}


def tensor_value(tag: str, data: Any, metadata: Any = None) -> Any:
    """A whole tensor (numbers, or strings) as a ``TensorProto`` value, with ``metadata`` (a
    ``SummaryMetadata``, or None)."""
    arr = np.asarray(data)
    if arr.dtype.kind in "USO":
        value = text_value(tag, arr)
        value.ClearField("metadata")
    else:
        name = _NP_TO_DT.get(arr.dtype.name)
        if name is None:
            raise DTypeError(f"tensor summary {tag!r}: cannot write an array of dtype {arr.dtype}")
        tensor_pb2 = _tb.proto("tensor_pb2")
        shape_pb2 = _tb.proto("tensor_shape_pb2")
        shape = shape_pb2.TensorShapeProto(dim=[shape_pb2.TensorShapeProto.Dim(size=d) for d in arr.shape])
        tensor = tensor_pb2.TensorProto(
            dtype=getattr(_tb.proto("types_pb2"), name),
            tensor_shape=shape,
            tensor_content=np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes(),
        )
        value = _tb.proto("summary_pb2").Summary.Value(tag=tag, tensor=tensor)
    if metadata is not None:
        value.metadata.CopyFrom(metadata)
    return value
