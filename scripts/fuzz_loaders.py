"""Fuzz every file loader of opcore with mutated copies of real files.

Eight loaders, each fed files made by saving small real models. A checkpoint
in TensorFlow 1's layout (``Saver().save``: ``.meta``, ``.index``,
``.data-00000-of-00001`` and the ``checkpoint`` state file) gives five:

- ``graph_json``: the graph JSON of the ``.meta`` file, mutated as JSON (values
  replaced, fields dropped, lists reordered, deep nesting, text edits), written
  back with valid digests so that the graph checks themselves are exercised;
  loaded with ``import_meta_graph`` and ``Saver.restore``.
- ``meta``: the raw bytes of the ``.meta`` file mutated; loaded the same way.
- ``index``: the ``.index`` JSON mutated as JSON; loaded the same way.
- ``data``: the raw bytes of the ``.data-00000-of-00001`` file mutated; loaded the same way.
- ``state``: the ``checkpoint`` state file mutated as JSON; loaded with
  ``latest_checkpoint`` (None, meaning no checkpoint, is a valid answer), then as above.

and three more:

- ``checkpoint``: the raw bytes of a single-file checkpoint
  (``Saver(write_version=1)``: header, graph, tensors) mutated; loaded the same way.
- ``keras_architecture``: the architecture JSON of a Keras model file, mutated
  as JSON and written back with a valid digest; loaded with ``load_model``.
- ``keras_weights``: the raw bytes of a Keras model file mutated; loaded with
  ``load_model``.

For every input: an exception must be an :class:`opcore.OpcoreError` (a
``CheckpointError`` is expected; any other opcore error is listed); a file
whose bytes were damaged must never load with values or a graph that differ
from the original (a *silent corruption*); and the process's peak memory must
stay under ``--max-memory-mb`` above its level before fuzzing. Mutations are
drawn with Hypothesis, reproducibly for a given ``--seed``.

Usage: ``python scripts/fuzz_loaders.py --per-loader 20000 --seed 0``.
Exit status 0 when there are no untyped exceptions, no silent corruptions and
memory stayed bounded; the summary is printed as JSON on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import resource
import sys
import tempfile
import time
import traceback
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save_file

import opcore
from opcore import keras
from opcore.io import Saver, export_graph, import_meta_graph

LOADERS = ("graph_json", "meta", "index", "data", "state", "checkpoint", "keras_architecture", "keras_weights")
#: Inputs per Hypothesis run.
CHUNK = 1000
#: The files of a checkpoint in TensorFlow 1's layout, by loader.
LAYOUT_FILES = {
    "meta": "model.ckpt.meta",
    "index": "model.ckpt.index",
    "data": "model.ckpt.data-00000-of-00001",
    "state": "checkpoint",
}

# ----------------------------------------------------------------------------- the real files


def _make_checkpoint(path: Path, version: int) -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3], name="x")
        w = opcore.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), name="dense/W")
        b = opcore.Variable(np.array([0.25, -0.5], np.float32), name="dense/b")
        h = opcore.relu(opcore.matmul(x, w) + b)
        parts = opcore.split(h, num_split=2, axis=1)
        y = opcore.concat([parts[1], parts[0]], axis=1)
        opcore.reduce_sum(y * 2.0, axis=1, name="out")
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))
        Saver(write_version=version).save(sess, str(path))


def _make_keras_model(path: Path) -> None:
    inputs = keras.layers.Input(shape=(4,), name="features")
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    inner = keras.Sequential([keras.layers.Input(shape=(3,)), keras.layers.Dense(2, name="inner_dense")], name="inner")
    outputs = keras.layers.Dense(1, name="head")(inner(hidden))
    keras.Model(inputs, outputs, name="fuzzed").save(str(path))


def _read_safetensors(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    with safe_open(str(path), framework="numpy") as f:
        return dict(f.metadata() or {}), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


# ----------------------------------------------------------------------------- loading and comparing


def _load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The graph, constants and variable values of the checkpoint at ``path`` (a prefix or a single file)."""
    g = opcore.Graph()
    with g.as_default():
        saver = import_meta_graph(str(path))
    with opcore.Session(g) as sess:
        saver.restore(sess, str(path))
        values = {v.name: np.array(sess.variable_value(v)) for v in g.variables}
    meta, consts = export_graph(g)
    return meta, consts, values


def _load_keras(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    model = keras.models.load_model(str(path))
    return model.get_config(), {f"{i}:{v.name}": np.array(v.numpy()) for i, v in enumerate(model.weights)}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(type(a) is type(b) and a == b)


def _without_names(config: Any) -> Any:
    """A Keras config without the names of ``Input``s, which are generated afresh on every load."""
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if not (k == "name" and "shape" in config)}
    if isinstance(config, list):
        return [_without_names(v) for v in config]
    return config


# ----------------------------------------------------------------------------- mutations

_INTERESTING: list[Any] = [
    -1, 0, 1, 2, 3, 7, 255, 4096, 2**31, 2**63, -(2**63), 10**12, 10**30, 1e308, -0.0, 0.5,
    True, False, None, "", "x", "dense/W", "MatMul", "Add", "float32", "int32", "float64", "bool",
    "op", "const", "variable", "assign", "group", "placeholder", "Dense", "Sequential", "Model",
    [], {}, [None], [None, 3], [0, 0], ["x", 0], ["x", -1], ["Add", 0], {"class_name": "Dense", "config": {}},
]  # fmt: skip

_json_leaf = st.one_of(
    st.sampled_from(_INTERESTING),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["name", "kind", "x", "config"]), inner, max_size=3),
    ),
    max_leaves=8,
)

_JSON_OPS = ("replace", "delete", "duplicate", "swap", "nest", "rename_key", "text")
json_mutation = st.tuples(st.sampled_from(_JSON_OPS), st.integers(0, 2**32), _json_value)
byte_mutation = st.tuples(
    st.sampled_from(("flip", "set", "insert", "delete", "truncate", "copy", "header")),
    st.integers(0, 2**32),
    st.integers(0, 255),
    st.integers(1, 64),
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def mutate_json(text: str, mutations: list[tuple[str, int, Any]]) -> str:
    """Apply JSON-aware mutations to ``text`` (the last may be a plain text edit)."""
    doc = json.loads(text)
    for op, pick, value in mutations:
        paths = _paths(doc)
        path = paths[pick % len(paths)]
        if op == "text":
            raw = json.dumps(doc, separators=(",", ":"))
            i = pick % (len(raw) + 1)
            return raw[:i] + str(value)[:8] + raw[i + (pick >> 8) % 4 :]
        if not path:
            doc = copy.deepcopy(value) if op == "replace" else [doc] if op == "nest" else doc
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = copy.deepcopy(value)  # never share one object between two places
        elif op == "delete":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = (key + 1 + (pick >> 16)) % len(parent)
            parent[key], parent[other] = parent[other], parent[key]
        elif op == "nest":
            for _ in range(1 + (pick >> 12) % 80):
                parent[key] = [parent[key]]
        elif op == "rename_key" and isinstance(parent, dict):
            parent[str(value)[:10]] = parent.pop(key)
    return json.dumps(doc, separators=(",", ":"), allow_nan=True)


def mutate_bytes(raw: bytes, mutations: list[tuple[str, int, int, int]]) -> bytes:
    data = bytearray(raw)
    for op, pick, byte, length in mutations:
        if not data:
            break
        header_end = min(len(data), 8 + int.from_bytes(bytes(raw[:8]), "little"))
        i = pick % (header_end if op == "header" else len(data))
        if op in ("flip", "header"):
            data[i] ^= 1 << (byte % 8)
        elif op == "set":
            data[i] = byte
        elif op == "insert":
            data[i:i] = bytes([byte]) * length
        elif op == "delete":
            del data[i : i + length]
        elif op == "truncate":
            del data[i:]
        elif op == "copy":
            j = (pick >> 8) % len(data)
            data[i : i + length] = data[j : j + length]
    return bytes(data)


# ----------------------------------------------------------------------------- the run


class Tally:
    def __init__(self) -> None:
        self.inputs = 0
        self.loaded = 0
        self.unchanged = 0
        self.errors: Counter[str] = Counter()
        self.untyped: list[str] = []
        self.other_opcore: list[str] = []
        self.silent: list[str] = []
        self.warnings = 0
        self.max_input_mb = 0.0  # largest traced allocation peak of one input (with --trace-memory)
        self.max_input = ""

    def summary(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "loaded": self.loaded,
            "unchanged_inputs": self.unchanged,
            "checkpoint_errors": self.errors["CheckpointError"],
            "other_opcore_errors": len(self.other_opcore),
            "untyped_exceptions": len(self.untyped),
            "silent_corruptions": len(self.silent),
            "warnings": self.warnings,
            "max_traced_mb_per_input": round(self.max_input_mb, 2),
        }


def _run_one(tally: Tally, load: Callable[[], Any], original: Any, check_values: bool, what: str) -> None:
    """Load one mutated input; with ``check_values`` a successful load must give ``original`` (or None,
    which a loader returns when it finds nothing to load, such as a state file naming no checkpoint)."""
    tally.inputs += 1
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    try:
        _load_and_check(tally, load, original, check_values, what)
    finally:
        if tracemalloc.is_tracing():
            used = (tracemalloc.get_traced_memory()[1] - before) / 2**20
            if used > tally.max_input_mb:
                tally.max_input_mb, tally.max_input = used, what


def _load_and_check(tally: Tally, load: Callable[[], Any], original: Any, check_values: bool, what: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = load()
        except opcore.OpcoreError as exc:
            tally.errors[type(exc).__name__] += 1
            if not isinstance(exc, opcore.CheckpointError) and len(tally.other_opcore) < 20:
                tally.other_opcore.append(f"{what}: {type(exc).__name__}: {str(exc)[:300]}")
            return
        except Exception as exc:  # the finding this script exists to count
            tally.untyped.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}\n{traceback.format_exc(limit=-4)}")
            return
        finally:
            tally.warnings += len(caught)
    tally.loaded += 1
    if check_values and result is not None and not _same(result, original):
        tally.silent.append(what)


def _peak_rss_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def fuzz(per_loader: int, seed_value: int, loaders: list[str], workdir: Path) -> dict[str, Tally]:
    ckpt, model = workdir / "model.ckpt", workdir / "model.safetensors"
    layout = workdir / "layout"
    _make_checkpoint(ckpt, 1)
    _make_checkpoint(layout / "model.ckpt", 2)
    _make_keras_model(model)
    ckpt_raw, model_raw = ckpt.read_bytes(), model.read_bytes()
    layout_raw = {name: (layout / file).read_bytes() for name, file in LAYOUT_FILES.items()}
    meta_meta, meta_tensors = _read_safetensors(layout / LAYOUT_FILES["meta"])
    model_meta, model_tensors = _read_safetensors(model)
    want_ckpt = _load_checkpoint(ckpt)
    if not _same(_load_checkpoint(layout / "model.ckpt"), want_ckpt):
        raise AssertionError("the two checkpoint layouts of one graph load differently")
    want_model = _load_keras(model)
    want_model = (_without_names(want_model[0]), want_model[1])
    target = workdir / "fuzzed"
    tallies = {name: Tally() for name in loaders}
    # Hypothesis runs in chunks of CHUNK inputs, each with its own seed: one run of 20,000
    # examples keeps every explored choice in memory, which would hide the loaders' own.
    chunk = {"n": per_loader, "seed": seed_value}
    run_settings = settings(
        max_examples=per_loader,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    def load_ckpt() -> Any:
        return _load_checkpoint(target)

    def load_layout() -> Any:
        return _load_checkpoint(layout / "model.ckpt")

    def load_latest() -> Any:
        prefix = opcore.train.latest_checkpoint(str(layout))
        return None if prefix is None else _load_checkpoint(Path(prefix))

    def write_layout(name: str, data: bytes) -> None:
        """The original checkpoint files, with ``name``'s replaced by ``data``."""
        for other, raw in layout_raw.items():
            (layout / LAYOUT_FILES[other]).write_bytes(data if other == name else raw)

    def load_model() -> Any:
        config, weights = _load_keras(target)
        return _without_names(config), weights

    def rewrite_entry(meta_in: dict[str, str], tensors: Any, key: str, digests_key: str, text: str) -> None:
        """Write ``target`` again with the JSON entry ``key`` replaced by ``text`` and its digest updated,
        so the loader's structure checks, not its digest check, meet the mutation."""
        meta = dict(meta_in)
        digests = json.loads(meta[digests_key])
        meta[key] = text
        digests[key] = hashlib.sha256(text.encode()).hexdigest()
        meta[digests_key] = json.dumps(digests)
        save_file(tensors, str(target), metadata=meta)

    def write_graph_json(text: str) -> None:
        write_layout("meta", layout_raw["meta"])
        meta = dict(meta_meta)
        digests = json.loads(meta["opcore.sha256"])
        meta["opcore.graph"] = text
        digests["opcore.graph"] = hashlib.sha256(text.encode()).hexdigest()
        meta["opcore.sha256"] = json.dumps(digests)
        save_file(meta_tensors, str(layout / LAYOUT_FILES["meta"]), metadata=meta)

    def write_architecture(text: str) -> None:
        rewrite_entry(model_meta, model_tensors, "opcore.keras.model", "opcore.keras.sha256", text)

    def json_case(name: str, original_text: str, write: Callable[[str], None], load: Callable[[], Any]) -> Any:
        @seed(chunk["seed"])
        @settings(run_settings, max_examples=chunk["n"])
        @given(st.lists(json_mutation, min_size=1, max_size=4))
        def case(mutations: list[tuple[str, int, Any]]) -> None:
            text = mutate_json(original_text, mutations)
            write(text)
            # a valid, different graph or model may load: only exception types and memory are checked here
            _run_one(tallies[name], load, None, False, f"{name} {mutations!r}"[:400])

        return case

    def bytes_case(
        name: str, raw: bytes, load: Callable[[], Any], original: Any, write: Callable[[bytes], Any] | None = None
    ) -> Any:
        @seed(chunk["seed"])
        @settings(run_settings, max_examples=chunk["n"])
        @given(st.lists(byte_mutation, min_size=1, max_size=3))
        def case(mutations: list[tuple[str, int, int, int]]) -> None:
            data = mutate_bytes(raw, mutations)
            if data == raw:
                tallies[name].unchanged += 1
            (write or target.write_bytes)(data)
            _run_one(tallies[name], load, original, data != raw, f"{name} {mutations!r}")

        return case

    def layout_json_case(name: str, load: Callable[[], Any]) -> Any:
        """JSON mutations of a file that carries no digest of itself: a load must still give the original values."""

        @seed(chunk["seed"])
        @settings(run_settings, max_examples=chunk["n"])
        @given(st.lists(json_mutation, min_size=1, max_size=4))
        def case(mutations: list[tuple[str, int, Any]]) -> None:
            text = mutate_json(layout_raw[name].decode(), mutations)
            write_layout(name, text.encode())
            _run_one(tallies[name], load, want_ckpt, True, f"{name} {mutations!r}"[:400])

        return case

    def layout_bytes_case(name: str) -> Any:
        return bytes_case(name, layout_raw[name], load_layout, want_ckpt, lambda data: write_layout(name, data))

    cases = {
        "graph_json": lambda: json_case("graph_json", meta_meta["opcore.graph"], write_graph_json, load_layout),
        "meta": lambda: layout_bytes_case("meta"),
        "index": lambda: layout_json_case("index", load_layout),
        "data": lambda: layout_bytes_case("data"),
        "state": lambda: layout_json_case("state", load_latest),
        "checkpoint": lambda: bytes_case("checkpoint", ckpt_raw, load_ckpt, want_ckpt),
        "keras_architecture": lambda: json_case(
            "keras_architecture", model_meta["opcore.keras.model"], write_architecture, load_model
        ),
        "keras_weights": lambda: bytes_case("keras_weights", model_raw, load_model, want_model),
    }
    for name in loaders:
        started = time.perf_counter()
        for start in range(0, per_loader, CHUNK):
            chunk["n"], chunk["seed"] = min(CHUNK, per_loader - start), seed_value * 1_000_003 + start
            cases[name]()()
        elapsed = time.perf_counter() - started
        rate = tallies[name].inputs / elapsed
        print(
            f"{name}: {tallies[name].inputs} inputs in {elapsed:.1f} s ({rate:.0f}/s), peak RSS {_peak_rss_mb():.0f} MB",
            flush=True,
        )
    return tallies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-loader", type=int, default=500, help="inputs per loader (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutations (default 0)")
    parser.add_argument("--loaders", nargs="+", choices=LOADERS, default=list(LOADERS))
    parser.add_argument("--max-memory-mb", type=float, default=256.0, help="allowed peak RSS growth (default 256)")
    parser.add_argument(
        "--trace-memory",
        type=float,
        metavar="MB",
        help="trace allocations (slower) and fail if one input's loading allocates more than MB",
    )
    args = parser.parse_args(argv)

    opcore.get_registry()  # load plugins before measuring the baseline
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _peak_rss_mb()
        if args.trace_memory is not None:
            tracemalloc.start()
        tallies = fuzz(args.per_loader, args.seed, args.loaders, Path(tmp))
        tracemalloc.stop()
        peak = _peak_rss_mb()
    growth = peak - baseline
    for name, tally in tallies.items():
        for text in tally.untyped[:5]:
            print(f"UNTYPED {text}")
        for text in tally.silent[:5]:
            print(f"SILENT CORRUPTION {text}")
        for text in tally.other_opcore[:3]:
            print(f"non-checkpoint opcore error (typed) {text}")
        if tally.max_input:
            print(f"{name}: largest allocation by one input, {tally.max_input_mb:.2f} MB: {tally.max_input[:300]}")
    summary = {
        "seed": args.seed,
        "loaders": {name: t.summary() for name, t in tallies.items()},
        "peak_rss_mb": round(peak, 1),
        "peak_rss_growth_mb": round(growth, 1),
        "max_memory_mb": args.max_memory_mb,
    }
    print(json.dumps(summary))
    bad = any(t.untyped or t.silent for t in tallies.values()) or growth > args.max_memory_mb
    if args.trace_memory is not None:
        bad = bad or any(t.max_input_mb > args.trace_memory for t in tallies.values())
    return 1 if bad else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
