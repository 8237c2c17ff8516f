"""The optimizers the train tests run eagerly and in graphs: one of each kind, with rates that converge."""

from __future__ import annotations

from collections.abc import Callable

import opcore.train as T

OPTIMIZERS: list[Callable[[], T.Optimizer]] = [
    lambda: T.GradientDescentOptimizer(0.1),
    lambda: T.MomentumOptimizer(0.05, 0.9),
    lambda: T.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    lambda: T.AdagradOptimizer(0.5),
    lambda: T.AdadeltaOptimizer(5.0, rho=0.9, epsilon=1e-4),
    lambda: T.RMSPropOptimizer(0.05),
    lambda: T.AdamOptimizer(0.1),
    lambda: T.SGD(0.1),
]
