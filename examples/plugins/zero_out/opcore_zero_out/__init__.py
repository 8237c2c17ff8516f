"""An example op plugin: ``myorg.ZeroOut`` (TensorFlow's "create an op" example)."""

from opcore_zero_out.ops import ZERO_OUT, zero_out

__all__ = ["ZERO_OUT", "zero_out"]
