"""The 8x8 handwritten digits of scikit-learn's ``load_digits``: a small, offline classification set.

1,797 grey 8x8 images of the digits 0-9 (ten classes): the test set of the
UCI "Optical Recognition of Handwritten Digits" data (E. Alpaydin and C.
Kaynak, 1998), as scikit-learn distributes it. opcore ships a copy inside the
package (see ``opcore/datasets/data/README.md`` for the licences), so it needs
neither a download nor scikit-learn.

>>> from opcore.datasets import digits
>>> (x_train, y_train), (x_test, y_test) = digits.load_data()  # doctest: +SKIP
>>> x_train.shape, y_train.dtype  # doctest: +SKIP
((1437, 64), dtype('int32'))
"""

from __future__ import annotations

import numpy as np

from opcore.datasets._bundled import load_array
from opcore.datasets._split import train_test_split

__all__ = ["load_data"]


def load_data(
    test_split: float = 0.2, seed: int | None = 0, normalize: bool = True, flatten: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The digits as ``((x_train, y_train), (x_test, y_test))``.

    ``x`` is float32, shape ``(n, 64)`` (``(n, 8, 8)`` with ``flatten=False``),
    scaled to [0, 1] unless ``normalize=False`` (raw values are 0..16).
    ``y`` holds the class indices 0..9 as int32 (what
    ``sparse_categorical_crossentropy`` expects). The split is a seeded
    shuffle: the same ``seed`` gives the same split.
    """
    x = load_array("digits_images.npy.gz").astype(np.float32)
    if normalize:
        x /= np.float32(16.0)
    if not flatten:
        x = x.reshape(-1, 8, 8)
    y = load_array("digits_labels.npy.gz").astype(np.int32)
    return train_test_split(x, y, test_split, seed, "digits.load_data")
