"""TensorFlow 2's ``tf.summary.experimental``: the default step of eager summaries.

>>> import opcore
>>> opcore.summary.experimental.set_step(5)
>>> opcore.summary.experimental.get_step()
5
>>> opcore.summary.experimental.set_step(None)
"""

from __future__ import annotations

from opcore.summary._writer import get_step, set_step

__all__ = ["get_step", "set_step"]
