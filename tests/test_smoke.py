"""The fastest end-to-end check: define, dispatch, differentiate."""

import opcore


def test_smoke() -> None:
    x = opcore.constant([1.0, 2.0, 3.0])
    with opcore.GradientTape() as tape:
        tape.watch(x)
        y = opcore.reduce_sum(x * x)
    assert float(y) == 14.0
    assert tape.gradient(y, x).numpy().tolist() == [2.0, 4.0, 6.0]
    assert "numpy" in [b.name for b in opcore.available_backends() if b.available]
