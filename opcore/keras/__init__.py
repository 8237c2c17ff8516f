"""A Keras-style model API on opcore, trained eagerly with ``GradientTape``.

>>> import numpy as np
>>> from opcore import keras
>>> model = keras.Sequential([
...     keras.layers.Input(shape=(4,)),
...     keras.layers.Dense(16, activation="relu"),
...     keras.layers.Dense(3, activation="softmax"),
... ])
>>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
>>> x, y = np.random.rand(64, 4).astype("float32"), np.random.randint(0, 3, 64)
>>> history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
>>> sorted(history.history)
['accuracy', 'loss']

Models save to one safetensors file (``model.save("m.safetensors")``) and come
back with ``keras.models.load_model``. As in Keras, the first layer may declare
the input shape (``Dense(16, input_shape=(4,))`` or ``input_dim=4``);
``keras.utils.to_categorical`` one-hot encodes labels and
``keras.datasets.mnist.load_data()`` gives MNIST as Keras's uint8 arrays;
``keras.optimizers`` and ``keras.losses`` hold Keras's names for opcore's
optimizers and losses.
"""

from __future__ import annotations

from opcore.keras import callbacks, datasets, layers, losses, models, optimizers, utils
from opcore.keras._errors import ModelError
from opcore.keras._functional import Input, KerasTensor
from opcore.keras.callbacks import History
from opcore.keras.models import Model, Sequential, load_model

__all__ = [
    "History",
    "Input",
    "KerasTensor",
    "Model",
    "ModelError",
    "Sequential",
    "callbacks",
    "datasets",
    "layers",
    "load_model",
    "losses",
    "models",
    "optimizers",
    "utils",
]
