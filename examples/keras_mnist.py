"""The MNIST MLP with the Keras-style API: once as a Sequential model, once with the functional API.

Both train eagerly (GradientTape under the hood) with Adam, then the functional
model is saved, reloaded and checked to predict the same.

    python examples/keras_mnist.py [--backend numpy] [--epochs 3] [--data-dir DIR] [--logdir logs]
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from course import parse_args

import opcore

keras = opcore.keras


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=3, batch_size=(int, 100, "mini-batch size"),
                      data_dir=(str, None, "folder with the four MNIST .gz files"))  # fmt: skip
    (x_train, y_train), (x_test, y_test) = opcore.datasets.mnist.load_data(args.data_dir, one_hot=True)
    if args.max_steps:  # a quick run: just enough data for max_steps batches per epoch
        x_train, y_train = x_train[: args.max_steps * args.batch_size], y_train[: args.max_steps * args.batch_size]
    opcore.set_seed(args.seed)
    verbose = 0 if args.max_steps else 1
    results = {}
    with opcore.use_backend(args.backend):
        sequential = keras.Sequential(
            [
                keras.layers.Input((784,)),
                keras.layers.Dense(256, activation="sigmoid"),
                keras.layers.Dense(128, activation="sigmoid"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        inputs = keras.layers.Input((784,))
        h = keras.layers.Dense(256, activation="sigmoid")(inputs)
        h = keras.layers.Dense(128, activation="sigmoid")(h)
        outputs = keras.layers.Dense(10, activation="softmax")(h)
        functional = keras.Model(inputs, outputs)

        for name, model in (("sequential", sequential), ("functional", functional)):
            model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
            # TensorBoard: loss and accuracy per epoch (and every --log-every batches), weight histograms, the graph
            callbacks = [keras.callbacks.TensorBoard(os.path.join(args.logdir, name), histogram_freq=1,
                                                     update_freq=args.log_every)] if args.logdir else []  # fmt: skip
            history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                                validation_split=0.1, verbose=verbose, seed=args.seed, callbacks=callbacks)  # fmt: skip
            _, acc = model.evaluate(x_test, y_test, batch_size=1000)
            results[name] = acc
            print(f"{name}: val accuracy {history.history['val_accuracy'][-1]:.4f}, test accuracy {acc:.4f}")

        path = os.path.join(tempfile.mkdtemp(), "mlp.safetensors")
        functional.save(path)
        restored = keras.models.load_model(path)
        same = np.array_equal(restored.predict(x_test[:100]), functional.predict(x_test[:100]))
        print(f"saved to {path}; reloaded model predicts the same: {same}")
    print(f"result: test_accuracy={min(results.values()):.4f}")


if __name__ == "__main__":
    main()
