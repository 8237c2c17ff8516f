"""Saving and loading Keras-style models: one safetensors file, architecture as versioned JSON inside.

File layout (a standard safetensors file, readable by any safetensors tool):

- tensors: the model's weights, in ``model.weights`` order, keyed
  ``"0000:dense/kernel"`` (position and variable name);
- metadata ``"opcore.keras.model"``: JSON ``{"format": "opcore.keras.model",
  "version": 1, "class_name": "Sequential" | "Model", "config": ...}``, where the
  config lists each layer's class name and ``get_config()`` and, for functional
  models, the inputs and the recorded layer calls;
- metadata ``"opcore.keras.sha256"``: JSON ``{tensor key: sha256 of its bytes}``,
  plus ``{"opcore.keras.model": sha256 of the architecture JSON}``, so a
  damaged file is detected rather than loaded (files written before the
  architecture digest existed load without that check).

Writes go to a temporary file that is fsynced and renamed over the target, so
a crash leaves the previous file intact. Loading never executes code (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import CheckpointError, OpcoreError
from opcore.io._json import expect, expect_bool, expect_int, expect_keys, expect_str, parse_json
from opcore.io.atomic import atomic_write, remove_stale_temporaries
from opcore.keras._functional import Input, KerasTensor, symbolic_call
from opcore.layers.base import Layer, checking_weights

__all__ = [
    "FORMAT",
    "VERSION",
    "check_architecture",
    "functional_config",
    "functional_from_config",
    "load_model",
    "save_model",
]

FORMAT = "opcore.keras.model"
VERSION = 1
_ARCH_KEY = "opcore.keras.model"
_DIGEST_KEY = "opcore.keras.sha256"


# -- architecture ----------------------------------------------------------------------------


def _classes(custom_objects: dict[str, Any] | None) -> dict[str, type]:
    from opcore.keras import layers as keras_layers
    from opcore.keras import models

    found: dict[str, type] = {}
    for name in keras_layers.__all__:
        obj = getattr(keras_layers, name)
        if isinstance(obj, type) and issubclass(obj, Layer):
            found[name] = obj
            found[obj.__name__] = obj
    found["Sequential"] = models.Sequential
    found["Model"] = models.Model
    found.update(custom_objects or {})
    return found


def serialize_layer(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": layer.get_config()}``."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec: Any, classes: dict[str, type]) -> Layer:
    """The layer described by ``serialize_layer``'s output."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) or "config" not in spec:
        raise CheckpointError(f"bad layer entry {spec!r}: expected {{'class_name': ..., 'config': {{...}}}}")
    name = spec["class_name"]
    cls = classes.get(name)
    if cls is None:
        raise CheckpointError(
            f"unknown layer class {name!r}; pass custom_objects={{{name!r}: YourLayerClass}} to load_model"
        )
    config = spec["config"]
    if name in ("Sequential", "Model") and issubclass(cls, _model_base()):
        model: Layer = _model_from_config(name, config, classes)
        return model
    layer = cls.from_config(dict(config))  # type: ignore[attr-defined]
    if not isinstance(layer, Layer):
        raise CheckpointError(f"{name}.from_config returned {type(layer).__name__}, not a Layer")
    return layer


def _model_base() -> type:
    from opcore.keras._engine import Model

    return Model


def _input_spec(t: KerasTensor) -> dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape.dims or ()), "dtype": t.dtype.name}


def _input_from_spec(spec: dict[str, Any]) -> KerasTensor:
    return Input(shape=list(spec["shape"])[1:], dtype=spec["dtype"], name=spec["name"])


def functional_config(model: Any) -> dict[str, Any]:
    """The wiring of a functional model: inputs, layers, and each recorded call by tensor index."""
    ids: dict[int, int] = {id(t): i for i, t in enumerate(model._inputs)}
    layer_index = {id(layer): i for i, layer in enumerate(model._layers)}
    nodes = []
    for node in model._nodes:
        nodes.append(
            {"layer": layer_index[id(node.layer)], "args": [ids[id(t)] for t in node.inputs], "as_list": node.as_list}
        )
        ids[id(node.output)] = len(ids)
    return {
        "name": model.name,
        "inputs": [_input_spec(t) for t in model._inputs],
        "inputs_list": model._inputs_list,
        "layers": [serialize_layer(layer) for layer in model._layers],
        "nodes": nodes,
        "outputs": [ids[id(t)] for t in model._outputs],
        "outputs_list": model._outputs_list,
    }


def functional_from_config(config: dict[str, Any], custom_objects: dict[str, Any] | None) -> Any:
    """Rebuild a functional model from :func:`functional_config`'s output."""
    return _model_from_config("Model", config, _classes(custom_objects))


def _model_from_config(class_name: str, config: dict[str, Any], classes: dict[str, type]) -> Any:
    from opcore.keras.models import Model, Sequential

    if class_name == "Sequential":
        seq = Sequential(name=config["name"])
        if config.get("input") is not None:
            seq.add(_input_from_spec(config["input"]))
        for spec in config["layers"]:
            seq.add(deserialize_layer(spec, classes))
        return seq
    tensors: list[KerasTensor] = [_input_from_spec(s) for s in config["inputs"]]
    inputs = list(tensors)
    layers = [deserialize_layer(spec, classes) for spec in config["layers"]]
    for node in config["nodes"]:
        args = [tensors[i] for i in node["args"]]
        tensors.append(symbolic_call(layers[node["layer"]], args if node["as_list"] else args[0]))
    outputs = [tensors[i] for i in config["outputs"]]
    return Model(
        inputs if config["inputs_list"] else inputs[0],
        outputs if config["outputs_list"] else outputs[0],
        name=config["name"],
    )


# -- files -------------------------------------------------------------------------------------


def _weight_key(i: int, var: Any) -> str:
    return f"{i:04d}:{var.name}"


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(arr, order="C").tobytes()).hexdigest()


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` (architecture and weights) to the single file ``path``, atomically."""
    target = Path(path)
    if target.is_dir():
        raise CheckpointError(f"cannot save model {model.name!r} to {target}: it is a folder; give a file path")
    arch = {"format": FORMAT, "version": VERSION, "class_name": type(model).__name__, "config": model.get_config()}
    try:
        arch_text = json.dumps(arch, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"cannot save model {model.name!r}: a layer config is not JSON-serialisable ({exc}); "
            "layers must return plain str/int/float/bool/list/dict values from get_config()"
        ) from None
    tensors = {_weight_key(i, v): np.asarray(v.numpy(), order="C") for i, v in enumerate(model.weights)}
    digests = {k: _digest(a) for k, a in tensors.items()}
    digests[_ARCH_KEY] = hashlib.sha256(arch_text.encode()).hexdigest()
    metadata = {_ARCH_KEY: arch_text, _DIGEST_KEY: json.dumps(digests)}
    try:
        with atomic_write(target) as tmp:
            save_file(tensors, tmp, metadata=metadata)
    except OSError as exc:
        raise CheckpointError(f"cannot write model {model.name!r} to {target}: {exc}") from None


def load_model(path: str | os.PathLike[str], custom_objects: dict[str, Any] | None = None) -> Any:
    """Load a model written by ``model.save(path)``: same architecture, same weights, not compiled.

    ``custom_objects`` maps class names to your own Layer classes. A missing,
    truncated, corrupt or malformed file raises :class:`opcore.CheckpointError`
    naming it and what is wrong. Before anything is built, the file's digests
    and the whole architecture are checked; while the layers are built, every
    weight must match a tensor of the file in shape and dtype before it is
    allocated, so the architecture cannot make loading allocate more than the
    file holds.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no saved model at {p}" + (" (it is a folder)" if p.is_dir() else ""))
    remove_stale_temporaries(p)
    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors: dict[str, np.ndarray] = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"cannot read model file {p}: not a valid safetensors file (corrupt or truncated?): {exc}"
        ) from None
    if _ARCH_KEY not in meta:
        raise CheckpointError(f"{p} is a safetensors file but not an opcore Keras model (no {_ARCH_KEY!r} metadata)")
    digests = parse_json(meta.get(_DIGEST_KEY, "{}"), f"the checksums in model file {p}")
    arch_digest = digests.pop(_ARCH_KEY, None) if isinstance(digests, dict) else None
    if arch_digest is not None and arch_digest != hashlib.sha256(meta[_ARCH_KEY].encode()).hexdigest():
        raise CheckpointError(f"model file {p} is corrupt: the architecture fails its sha256 checksum")
    arch = parse_json(meta[_ARCH_KEY], f"the architecture in model file {p}")
    if not isinstance(arch, dict) or arch.get("format") != FORMAT:
        raise CheckpointError(
            f"model file {p}: unknown format {arch.get('format') if isinstance(arch, dict) else arch!r}"
        )
    version = arch.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION or version < 1:
        raise CheckpointError(
            f"model file {p} has format version {version!r}; this opcore reads versions 1..{VERSION} "
            "(upgrade opcore to load it)"
        )
    if not isinstance(digests, dict) or set(digests) != set(tensors):
        raise CheckpointError(f"model file {p} is corrupt: its checksum list does not match its tensors")
    for key, arr in tensors.items():
        if _digest(arr) != digests[key]:
            raise CheckpointError(f"model file {p} is corrupt: tensor {key!r} fails its sha256 checksum")
    try:
        check_architecture(arch)
    except CheckpointError as exc:
        raise CheckpointError(f"model file {p}: bad architecture: {exc}") from None
    try:
        with checking_weights(_weights_in_file(tensors)):
            model = _model_from_config(arch["class_name"], arch["config"], _classes(custom_objects))
    except CheckpointError as exc:
        raise CheckpointError(f"model file {p}: {exc}") from exc.__cause__
    except Exception as exc:  # layer classes (custom ones included) given the file's configs
        raise CheckpointError(f"model file {p}: cannot rebuild the architecture: {type(exc).__name__}: {exc}") from exc
    _assign_weights(model, tensors, p)
    return model


def _weights_in_file(tensors: dict[str, np.ndarray]) -> Any:
    """A weight check for :func:`checking_weights`: each weight must use up one file tensor of its shape and dtype."""
    available: Counter[tuple[tuple[int, ...], str]] = Counter((tuple(a.shape), a.dtype.name) for a in tensors.values())

    def check(name: str, shape: tuple[int, ...], dtype: DType) -> None:
        key = (tuple(shape), dtype.np.name)
        if available[key] <= 0:
            raise CheckpointError(
                f"the architecture declares weight {name!r} of shape {list(shape)} and dtype {dtype}, which the "
                "weights in the file do not hold; refusing to allocate it"
            )
        available[key] -= 1

    return check


# -- checking an architecture before building it ------------------------------------------------

_MODEL_FIELDS: dict[str, set[str]] = {
    "Sequential": {"name", "input", "layers"},
    "Model": {"name", "inputs", "inputs_list", "layers", "nodes", "outputs", "outputs_list"},
}
_MAX_RANK = 64


def check_architecture(arch: Any) -> None:
    """Check the type and range of every field of a saved architecture, and its wiring.

    Layer configs are checked as JSON objects here; each layer class checks
    its own values when it is built.
    """
    expect(arch, dict, "the architecture")
    expect_keys(arch, {"format", "version", "class_name", "config"}, set(), "the architecture")
    class_name = expect_str(arch["class_name"], "the architecture's 'class_name'")
    if class_name not in _MODEL_FIELDS:
        raise CheckpointError(f"the model class must be 'Sequential' or 'Model', found {class_name!r}")
    _check_model(class_name, arch["config"], "the model")


def _check_model(class_name: str, config: Any, what: str) -> None:
    expect(config, dict, f"{what}'s config")
    expect_keys(config, _MODEL_FIELDS[class_name], set(), f"{what}'s config")
    name = expect_str(config["name"], f"{what}'s 'name'")
    what = f"{class_name} {name!r}"
    layers = expect(config["layers"], list, f"{what}: 'layers'")
    for i, spec in enumerate(layers):
        _check_layer(spec, f"{what}: layer #{i}")
    if class_name == "Sequential":
        if config["input"] is not None:
            _check_input(config["input"], f"{what}: 'input'")
        return
    inputs = expect(config["inputs"], list, f"{what}: 'inputs'")
    if not inputs:
        raise CheckpointError(f"{what}: a functional model needs at least one input")
    for i, spec in enumerate(inputs):
        _check_input(spec, f"{what}: input #{i}")
    n_tensors = len(inputs)
    for i, node in enumerate(expect(config["nodes"], list, f"{what}: 'nodes'")):
        where = f"{what}: node #{i}"
        expect(node, dict, where)
        expect_keys(node, {"layer", "args", "as_list"}, set(), where)
        expect_int(node["layer"], f"{where}: 'layer'", 0, max(len(layers) - 1, 0))
        if not layers:
            raise CheckpointError(f"{where} calls a layer, but the model has none")
        args = expect(node["args"], list, f"{where}: 'args'")
        if not args:
            raise CheckpointError(f"{where}: 'args' must name at least one tensor")
        for j, arg in enumerate(args):
            expect_int(arg, f"{where}: argument #{j} (a tensor made earlier)", 0, n_tensors - 1)
        if not expect_bool(node["as_list"], f"{where}: 'as_list'") and len(args) != 1:
            raise CheckpointError(f"{where}: a call with one tensor (as_list false) has {len(args)} arguments")
        n_tensors += 1
    outputs = expect(config["outputs"], list, f"{what}: 'outputs'")
    if not outputs:
        raise CheckpointError(f"{what}: a functional model needs at least one output")
    for j, out in enumerate(outputs):
        expect_int(out, f"{what}: output #{j}", 0, n_tensors - 1)
    for key, items in (("inputs_list", inputs), ("outputs_list", outputs)):
        if not expect_bool(config[key], f"{what}: {key!r}") and len(items) != 1:
            raise CheckpointError(f"{what}: {key!r} is false, so there must be exactly one, found {len(items)}")


def _check_layer(spec: Any, what: str) -> None:
    expect(spec, dict, what)
    expect_keys(spec, {"class_name", "config"}, set(), what)
    class_name = expect_str(spec["class_name"], f"{what}: 'class_name'")
    if class_name in _MODEL_FIELDS:
        _check_model(class_name, spec["config"], f"{what} ({class_name})")
    else:
        expect(spec["config"], dict, f"{what} ({class_name}): 'config'")


def _check_input(spec: Any, what: str) -> None:
    expect(spec, dict, what)
    expect_keys(spec, {"name", "shape", "dtype"}, set(), what)
    expect_str(spec["name"], f"{what}: 'name'")
    shape = expect(spec["shape"], list, f"{what}: 'shape'")
    if not 1 <= len(shape) <= _MAX_RANK:
        raise CheckpointError(f"{what}: 'shape' must have rank 1 to {_MAX_RANK} (batch first), found {len(shape)}")
    for i, dim in enumerate(shape):
        if dim is not None:
            expect_int(dim, f"{what}: dimension {i} of 'shape'")
    try:
        _dt.as_dtype(expect_str(spec["dtype"], f"{what}: 'dtype'", 64))
    except OpcoreError as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{what}: 'dtype': {exc}") from None


def _assign_weights(model: Any, tensors: dict[str, np.ndarray], path: Path) -> None:
    variables = model.weights
    expected = {_weight_key(i, v): v for i, v in enumerate(variables)}
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"model file {path}: weights do not match the architecture; missing {missing}, unexpected {extra}"
        )
    for key, var in expected.items():
        arr = tensors[key]
        want = var.shape.as_tuple()
        if tuple(arr.shape) != want:
            raise CheckpointError(f"model file {path}: weight {key!r} has shape {arr.shape}, the layer needs {want}")
        if arr.dtype != var.dtype.np:
            raise CheckpointError(
                f"model file {path}: weight {key!r} has dtype {arr.dtype}, the layer needs {var.dtype}"
            )
        var.assign(arr)
