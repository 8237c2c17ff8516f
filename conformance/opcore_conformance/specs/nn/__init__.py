"""Conformance specs: nn family (softmax, losses, bias add, conv2d, pooling, their gradient ops, dropout).

The image references loop explicitly over output positions and window offsets
on a zero-padded NHWC copy of the input, so they share nothing with the
backends' im2col kernels. Drawn sizes stay small (batch <= 2, spatial <= 6,
channels <= 3, window <= 3) so finite-difference gradient checks stay fast.

The specs live in modules by kind of op: :mod:`.losses` (softmax and the
losses), :mod:`.conv` (bias add and conv2d), :mod:`.pool` (pooling) and
:mod:`.dropout`, with the image geometry they share in :mod:`._image`;
``SPECS`` lists them all, in that order.
"""

from __future__ import annotations

from opcore_conformance.spec import OpSpec
from opcore_conformance.specs.nn import conv, dropout, losses, pool

SPECS: list[OpSpec] = [*losses.SPECS, *conv.SPECS, *pool.SPECS, *dropout.SPECS]

__all__ = ["SPECS"]
