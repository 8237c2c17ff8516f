"""``tf.app``: ``tf.app.run(main)`` and ``tf.app.flags`` (also ``tf.flags``), on :mod:`argparse`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from opcore.compat.v1 import flags

__all__ = ["flags", "run"]


def run(main: Callable[..., Any] | None = None, argv: Sequence[str] | None = None) -> None:
    """Parse the defined flags from ``argv`` (default ``sys.argv``), then ``sys.exit(main(remaining_argv))``."""
    args = list(sys.argv if argv is None else argv)
    remaining = flags.FLAGS(args)
    if main is None:
        main = sys.modules["__main__"].main
    sys.exit(main(remaining))
