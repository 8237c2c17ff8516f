"""Optimizers and learning-rate schedules (TensorFlow 1's ``tf.train``).

>>> import opcore
>>> w = opcore.Variable([4.0, -2.0])
>>> opt = opcore.train.AdamOptimizer(learning_rate=0.1)
>>> for _ in range(200):
...     opt.minimize(lambda: opcore.reduce_sum(w * w), var_list=[w])
>>> bool(opcore.reduce_max(opcore.abs(w)) < 0.05)
True

In a graph, ``minimize`` returns the train op to run::

    with opcore.Graph().as_default():
        x = opcore.placeholder(opcore.float32, [None, 3])
        ...
        train_op = opcore.train.GradientDescentOptimizer(0.1).minimize(loss)
        with opcore.Session() as sess:
            sess.run(opcore.global_variables_initializer())
            sess.run(train_op, {x: batch})
"""

from __future__ import annotations

from opcore.io.checkpoint import Saver, export_meta_graph, import_meta_graph
from opcore.io.checkpoint_state import (
    CheckpointState,
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    update_checkpoint_state,
)
from opcore.io.reader import list_variables, load_variable
from opcore.train.global_step import get_global_step, get_or_create_global_step
from opcore.train.optimizer import Optimizer
from opcore.train.optimizers import (
    SGD,
    Adadelta,
    AdadeltaOptimizer,
    Adagrad,
    AdagradOptimizer,
    Adam,
    AdamOptimizer,
    GradientDescentOptimizer,
    Momentum,
    MomentumOptimizer,
    RMSprop,
    RMSPropOptimizer,
    get,
)
from opcore.train.schedules import (
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    exponential_decay,
    inverse_time_decay,
    piecewise_constant,
)

__all__ = [
    "CheckpointState",
    "Saver",
    "checkpoint_exists",
    "export_meta_graph",
    "get_checkpoint_state",
    "import_meta_graph",
    "latest_checkpoint",
    "list_variables",
    "load_variable",
    "update_checkpoint_state",
    "SGD",
    "Adadelta",
    "AdadeltaOptimizer",
    "Adagrad",
    "AdagradOptimizer",
    "Adam",
    "AdamOptimizer",
    "ExponentialDecay",
    "GradientDescentOptimizer",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "Momentum",
    "MomentumOptimizer",
    "Optimizer",
    "PiecewiseConstantDecay",
    "RMSPropOptimizer",
    "RMSprop",
    "exponential_decay",
    "get",
    "get_global_step",
    "get_or_create_global_step",
    "inverse_time_decay",
    "piecewise_constant",
]
