"""Keras's optimizer names (``keras.optimizers.Adam`` ...): opcore's Keras-style optimizers of :mod:`opcore.train`.

Each takes ``learning_rate`` (or its older Keras name ``lr``) and Keras's
defaults; ``get`` maps a name such as ``"adam"`` to a new instance, as
``model.compile(optimizer="adam")`` does.

>>> from opcore import keras
>>> keras.optimizers.RMSprop(lr=0.01).get_config()["learning_rate"]
0.01
"""

from __future__ import annotations

from opcore.train import SGD, Adadelta, Adagrad, Adam, Optimizer, RMSprop, get

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "Optimizer", "RMSprop", "get"]
