"""Image geometry shared by the conv2d and pooling references and strategies.

Output sizes and padding as TensorFlow defines them, and a grid of output
positions and window offsets on a zero-padded NHWC copy of the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _hw(values: tuple[int, ...], data_format: str) -> tuple[int, int]:
    return (values[2], values[3]) if data_format == "NCHW" else (values[1], values[2])


def _geometry(size: int, window: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """(output size, padding before, padded size) along one spatial dim, as TensorFlow defines them."""
    eff = (window - 1) * dilation + 1
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, size + total
    return (size - eff) // stride + 1, 0, size


def _to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    return np.transpose(x, (0, 2, 3, 1)) if data_format == "NCHW" else x


def _from_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    return np.transpose(x, (0, 3, 1, 2)) if data_format == "NCHW" else x


class _Grid:
    """Output positions and window offsets of one conv/pool call, in padded NHWC coordinates."""

    def __init__(
        self, h: int, w: int, kh: int, kw: int, strides: Any, dilations: Any, padding: str, data_format: str
    ) -> None:
        self.sh, self.sw = _hw(tuple(strides), data_format)
        self.dh, self.dw = _hw(tuple(dilations), data_format)
        self.kh, self.kw = kh, kw
        self.h, self.w = h, w
        self.ho, self.top, self.hp = _geometry(h, kh, self.sh, self.dh, padding)
        self.wo, self.left, self.wp = _geometry(w, kw, self.sw, self.dw, padding)

    def padded(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        xp = np.full((x.shape[0], self.hp, self.wp, x.shape[3]), fill)
        xp[:, self.top : self.top + self.h, self.left : self.left + self.w, :] = x
        return xp

    def crop(self, xp: np.ndarray) -> np.ndarray:
        return xp[:, self.top : self.top + self.h, self.left : self.left + self.w, :]

    def taps(self, i: int, j: int) -> list[tuple[int, int, int, int]]:
        """(a, b, row, col) for every window offset (a, b) of output position (i, j), row-major."""
        return [
            (a, b, i * self.sh + a * self.dh, j * self.sw + b * self.dw) for a in range(self.kh) for b in range(self.kw)
        ]

    def real(self, row: int, col: int) -> bool:
        return self.top <= row < self.top + self.h and self.left <= col < self.left + self.w


def _image(n: int, h: int, w: int, c: int, fmt: str) -> tuple[int, int, int, int]:
    return (n, c, h, w) if fmt == "NCHW" else (n, h, w, c)


def _four(h: int, w: int, fmt: str) -> tuple[int, int, int, int]:
    return (1, 1, h, w) if fmt == "NCHW" else (1, h, w, 1)
