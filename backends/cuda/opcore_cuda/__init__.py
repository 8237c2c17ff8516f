"""opcore's CUDA backend. Importing it does not import CuPy; first use does."""

from opcore_cuda.backend import CudaBackend

__all__ = ["CudaBackend"]
__version__ = "0.1.0"
