"""opcore's OpenCL backend. Importing it does not import pyopencl; first use does."""

from opcore_opencl.backend import OpenCLBackend

__all__ = ["OpenCLBackend"]
__version__ = "0.1.0"
