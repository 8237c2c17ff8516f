"""opcore's NumPy backend: CPU kernels for every built-in op, as an ordinary plugin."""

from opcore_numpy.backend import NumpyBackend

__all__ = ["NumpyBackend"]
__version__ = "0.1.0"
