"""Layers: stateful building blocks, usable eagerly and in graphs."""

from opcore.layers.base import Layer

__all__ = ["Layer"]
