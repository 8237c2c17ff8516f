"""Expected failures: a plain-text file of ``op dtype reason`` lines.

::

    # known gaps of the opencl backend
    Conv2D      float16  no half-precision convolution kernel yet (issue 42)
    Reduce*     float64  the pocl device loses precision in tree sums
    Softmax     *        ...

- ``op`` and ``dtype`` are fnmatch patterns matched against the op name and
  the op x dtype table column (the first type variable's dtype).
- The reason, the rest of the line, is required: a line without one is an
  error that names the file and line.
- A line whose first non-blank character is ``#`` is a comment; blank lines
  are ignored. A ``#`` later on a line is part of the reason.

Semantics (strict, like pytest's ``xfail_strict``): an item an entry matches
that fails is reported as ``xfail`` and does not fail the run; one that passes
is reported as ``xpass`` and *does* fail the run, so a fixed kernel forces the
stale entry out of the file. Entries matching items that are not claimed or
not supported change nothing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import opcore

__all__ = ["XfailEntry", "XfailFileError", "load_xfail", "parse_xfail"]


class XfailFileError(ValueError):
    """A malformed xfail file; the message names the file and line."""


@dataclass(frozen=True)
class XfailEntry:
    op: str
    dtype: str
    reason: str
    line: int = 0

    def matches(self, op: str, column: str) -> bool:
        return fnmatch.fnmatchcase(op, self.op) and fnmatch.fnmatchcase(column, self.dtype)


def parse_xfail(text: str, source: str = "<xfail>") -> list[XfailEntry]:
    """Parse the xfail format above; raise :class:`XfailFileError` on a bad line."""
    known = {d.name for d in opcore.dtypes.ALL} | {"-"}
    out: list[XfailEntry] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[2].strip():
            raise XfailFileError(
                f"{source}:{n}: an xfail line needs an op, a dtype and a reason "
                f"('op dtype reason'), got {raw.strip()!r}"
            )
        op, dtype, reason = parts
        if not any(fnmatch.fnmatchcase(d, dtype) for d in known):
            raise XfailFileError(
                f"{source}:{n}: {dtype!r} matches no dtype; use one of {', '.join(sorted(known))} or a pattern like '*'"
            )
        out.append(XfailEntry(op, dtype, reason.strip(), n))
    return out


def load_xfail(path: str | Path) -> list[XfailEntry]:
    """Read and parse an xfail file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise XfailFileError(f"cannot read xfail file {str(p)!r}: {exc.strerror or exc}") from None
    return parse_xfail(text, str(p))
