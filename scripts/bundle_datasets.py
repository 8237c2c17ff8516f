"""Write the small data sets that opcore bundles, from scikit-learn's copies (a development tool).

opcore ships scikit-learn's 8x8 digits and diabetes data inside the package
(``opcore/datasets/data/``), so that neither scikit-learn nor SciPy is needed
to use them. This script rewrites those files from an installed scikit-learn
and prints the sha256 of each, to paste into ``opcore/datasets/_bundled.py``.
The files are gzipped ``.npy`` arrays, written byte for byte reproducibly
(no timestamp in the gzip header). Provenance and licences:
``opcore/datasets/data/README.md``.

Usage: ``python scripts/bundle_datasets.py`` (needs ``pip install scikit-learn``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "opcore" / "datasets" / "data"


def _write(name: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    data = gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)
    (DATA / name).write_bytes(data)
    print(f'    "{name}": "{hashlib.sha256(data).hexdigest()}",')


def main() -> None:
    from sklearn import datasets

    digits = datasets.load_digits()
    diabetes = datasets.load_diabetes()
    if not (np.array_equal(digits.data, np.round(digits.data)) and digits.data.min() >= 0 and digits.data.max() <= 16):
        raise SystemExit("unexpected digits data: not whole numbers in 0..16")
    DATA.mkdir(parents=True, exist_ok=True)
    _write("digits_images.npy.gz", digits.data.astype(np.uint8))
    _write("digits_labels.npy.gz", digits.target.astype(np.uint8))
    _write("diabetes_data.npy.gz", diabetes.data.astype(np.float64))
    _write("diabetes_target.npy.gz", diabetes.target.astype(np.float64))


if __name__ == "__main__":
    main()
