"""``tf.flags`` / ``tf.app.flags``: command-line flags with ``FLAGS.name``, on :mod:`argparse`.

>>> from opcore.compat.v1 import flags
>>> flags.DEFINE_integer("doc_steps", 10, "training steps")
>>> flags.FLAGS(["prog", "--doc_steps=3"])
['prog']
>>> flags.FLAGS.doc_steps
3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DEFINE_bool",
    "DEFINE_boolean",
    "DEFINE_enum",
    "DEFINE_float",
    "DEFINE_integer",
    "DEFINE_list",
    "DEFINE_string",
    "FLAGS",
    "Flags",
]


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "t", "yes", "y"):
        return True
    if low in ("0", "false", "f", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


class Flags:
    """The defined flags; parsed from ``sys.argv`` on first read, or by calling it with an argv."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parser", argparse.ArgumentParser(add_help=False, allow_abbrev=False))
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_parsed", False)
        object.__setattr__(self, "_bools", set())

    def _define(self, name: str, default: Any, help: str, kind: Any, **extra: Any) -> None:
        if name in self._values:
            raise ValueError(f"flag --{name} is defined twice")
        self._values[name] = default
        if kind is _bool:
            self._bools.add(name)
            self._parser.add_argument(f"--{name}", type=_bool, default=default, help=help)
            self._parser.add_argument(f"--no{name}", dest=name, action="store_false")
        else:
            self._parser.add_argument(f"--{name}", type=kind, default=default, help=help, **extra)
        object.__setattr__(self, "_parsed", False)

    def __call__(self, argv: Sequence[str]) -> list[str]:
        """Parse ``argv`` (program name first); returns the program name and the arguments left over."""
        args = list(argv)
        # A bare boolean flag (--fast) means true, as absl reads it; --fast=false and --nofast turn it off.
        words = [f"{w}=true" if w[2:] in self._bools and w.startswith("--") else w for w in args[1:]]
        known, rest = self._parser.parse_known_args(words)
        rest = [str(a) for a in rest]
        self._values.update(vars(known))
        object.__setattr__(self, "_parsed", True)
        return args[:1] + rest

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__["_values"]
        if name not in values:
            raise AttributeError(f"no flag named {name!r} is defined")
        if not self.__dict__["_parsed"]:
            self(sys.argv)
        return values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise AttributeError(f"no flag named {name!r} is defined")
        self._values[name] = value

    def flag_values_dict(self) -> dict[str, Any]:
        return dict(self._values)


FLAGS = Flags()


def DEFINE_string(name: str, default: str | None, help: str) -> None:
    FLAGS._define(name, default, help, str)


def DEFINE_integer(name: str, default: int | None, help: str, lower_bound: int | None = None) -> None:
    FLAGS._define(name, default, help, int)


def DEFINE_float(name: str, default: float | None, help: str) -> None:
    FLAGS._define(name, default, help, float)


def DEFINE_boolean(name: str, default: bool | None, help: str) -> None:
    FLAGS._define(name, default, help, _bool)


DEFINE_bool = DEFINE_boolean


def DEFINE_list(name: str, default: Sequence[str] | None, help: str) -> None:
    FLAGS._define(name, list(default) if default is not None else None, help, lambda s: s.split(","))


def DEFINE_enum(name: str, default: str | None, enum_values: Sequence[str], help: str) -> None:
    FLAGS._define(name, default, help, str, choices=list(enum_values))
