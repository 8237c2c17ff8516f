"""Shared command line of the course programs: --backend, --epochs, --max-steps, --seed."""

from __future__ import annotations

import argparse


def parse_args(description: str, epochs: int, **extra: tuple[type, object, str]) -> argparse.Namespace:
    """The course programs' common options, plus ``extra`` ones given as name=(type, default, help)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--backend", default="numpy", help="opcore backend to run on (default: numpy)")
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default: {epochs})")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many training steps (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    for name, (kind, default, text) in extra.items():
        if kind is bool:  # a flag: absent False, present True
            p.add_argument(f"--{name.replace('_', '-')}", action="store_true", help=text)
            continue
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=text)
    tb = p.add_argument_group("TensorBoard (needs the extra opcore[tensorboard])")
    tb.add_argument("--logdir", default=None, help="write curves and the graph here for `tensorboard --logdir`")
    tb.add_argument("--log-every", type=int, default=100, help="training steps between summaries (default: 100)")
    return p.parse_args()


def batches(n: int, batch_size: int, rng: object, shuffle: bool = True) -> list[slice | object]:
    """Index arrays (shuffled) or slices covering ``range(n)`` in batches."""
    import numpy as np

    order = rng.permutation(n) if shuffle else np.arange(n)  # type: ignore[attr-defined]
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]
