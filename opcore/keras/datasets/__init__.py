"""Keras's data sets: ``keras.datasets.mnist.load_data()``."""

from __future__ import annotations

from opcore.keras.datasets import mnist

__all__ = ["mnist"]
