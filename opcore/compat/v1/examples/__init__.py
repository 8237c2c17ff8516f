"""``tf.examples``: the tutorials' data helpers (``tf.examples.tutorials.mnist.input_data``)."""

from opcore.compat.v1.examples import tutorials

__all__ = ["tutorials"]
