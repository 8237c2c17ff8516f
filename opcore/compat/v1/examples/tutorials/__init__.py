"""``tf.examples.tutorials``."""

from opcore.compat.v1.examples.tutorials import mnist

__all__ = ["mnist"]
