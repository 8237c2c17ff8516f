"""``tf.examples.tutorials.mnist``: ``input_data.read_data_sets``."""

from opcore.compat.v1.examples.tutorials.mnist import input_data

__all__ = ["input_data"]
