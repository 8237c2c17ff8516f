"""The optimizers: TensorFlow 1 classes, Keras-style short names, and :func:`get`.

Every update is one fused op (:mod:`opcore.ops.train`) whose outputs are
assigned back to the variable and its slots, so the formulas are TensorFlow's:

======================  ==================  ===========================================
class                   op                  slots (initial value)
======================  ==================  ===========================================
GradientDescent         ApplyGradientDescent  none
Momentum                ApplyMomentum       ``momentum`` (0)
Adagrad                 ApplyAdagrad        ``accumulator`` (``initial_accumulator_value``)
Adadelta                ApplyAdadelta       ``accum``, ``accum_update`` (0)
RMSProp                 ApplyRMSProp        ``rms`` (1; 0 for Keras' ``RMSprop``), ``momentum`` (0)
Adam                    ApplyAdam           ``m``, ``v`` (0); beta1_power, beta2_power per optimizer
======================  ==================  ===========================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from opcore.dispatch import update_variables
from opcore.errors import InvalidArgumentError, OpDefinitionError
from opcore.ops import train as _ops
from opcore.ops.math import multiply
from opcore.registry import OpDef
from opcore.tensor import Variable
from opcore.train.optimizer import Optimizer, _as_dtype_of
from opcore.variables import assign

__all__ = [
    "SGD",
    "Adadelta",
    "AdadeltaOptimizer",
    "Adagrad",
    "AdagradOptimizer",
    "Adam",
    "AdamOptimizer",
    "GradientDescentOptimizer",
    "Momentum",
    "MomentumOptimizer",
    "RMSPropOptimizer",
    "RMSprop",
    "get",
]


def _assign_all(variables: list[Any], values: Any) -> list[Any]:
    outs = values if isinstance(values, (tuple, list)) else (values,)
    return [assign(v, x) for v, x in zip(variables, outs)]


def _update(op: OpDef, variables: list[Any], *inputs: Any, **attrs: Any) -> list[Any]:
    """Run a fused update op on ``variables`` (the variable, then its slots) and assign the results.

    Eagerly, the variables give up their buffers to the op, which writes in place
    where the backend can (see :func:`opcore.dispatch.update_variables`); in a graph
    it builds the update op and one assign per variable.
    """
    if all(isinstance(v, Variable) for v in variables):
        return update_variables(op, variables, inputs, attrs)
    return _assign_all(variables, op(*inputs, **attrs))


class GradientDescentOptimizer(Optimizer):
    """Plain gradient descent: ``var -= learning_rate * grad``.

    >>> import opcore
    >>> w = opcore.Variable([1.0, 2.0])
    >>> opt = opcore.train.GradientDescentOptimizer(0.5)
    >>> opt.apply_gradients([(opcore.constant([1.0, 1.0]), w)])
    >>> w.numpy().tolist()
    [0.5, 1.5]
    """

    def __init__(self, learning_rate: Any, name: str = "GradientDescent") -> None:
        super().__init__(learning_rate, name)

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        return _update(_ops.apply_gradient_descent, [var], var, hyper["learning_rate"], grad)


class MomentumOptimizer(Optimizer):
    """Momentum: ``accum = momentum * accum + grad``; ``var -= learning_rate * accum``.

    With ``use_nesterov=True``: ``var -= learning_rate * (grad + momentum * accum)``.
    """

    def __init__(self, learning_rate: Any, momentum: Any, use_nesterov: bool = False, name: str = "Momentum") -> None:
        super().__init__(learning_rate, name)
        self._set_hyper("momentum", momentum)
        self._use_nesterov = bool(use_nesterov)

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "use_nesterov": self._use_nesterov}

    def _slot_names(self) -> list[str]:
        return ["momentum"]

    def _create_slots(self, var: Any) -> None:
        self._zeros_slot(var, "momentum")

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        accum = self.get_slot(var, "momentum")
        return _update(
            _ops.apply_momentum,
            [var, accum],
            var,
            accum,
            hyper["learning_rate"],
            grad,
            hyper["momentum"],
            use_nesterov=self._use_nesterov,
        )


class AdagradOptimizer(Optimizer):
    """Adagrad: ``accum += grad**2``; ``var -= learning_rate * grad / sqrt(accum)``."""

    def __init__(self, learning_rate: Any, initial_accumulator_value: float = 0.1, name: str = "Adagrad") -> None:
        super().__init__(learning_rate, name)
        if not float(initial_accumulator_value) > 0:
            raise InvalidArgumentError(
                f"{type(self).__name__}: initial_accumulator_value must be positive, got {initial_accumulator_value!r}"
            )
        self._initial_accumulator_value = float(initial_accumulator_value)

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "initial_accumulator_value": self._initial_accumulator_value}

    def _slot_names(self) -> list[str]:
        return ["accumulator"]

    def _create_slots(self, var: Any) -> None:
        self._slot(var, "accumulator", self._initial_accumulator_value)

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        accum = self.get_slot(var, "accumulator")
        return _update(_ops.apply_adagrad, [var, accum], var, accum, hyper["learning_rate"], grad)


class AdadeltaOptimizer(Optimizer):
    """Adadelta (Zeiler 2012) with TensorFlow's learning-rate factor on the update."""

    def __init__(
        self, learning_rate: Any = 0.001, rho: Any = 0.95, epsilon: Any = 1e-8, name: str = "Adadelta"
    ) -> None:
        super().__init__(learning_rate, name)
        self._set_hyper("rho", rho)
        self._set_hyper("epsilon", epsilon)

    def _slot_names(self) -> list[str]:
        return ["accum", "accum_update"]

    def _create_slots(self, var: Any) -> None:
        self._zeros_slot(var, "accum")
        self._zeros_slot(var, "accum_update")

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        accum, update = self.get_slot(var, "accum"), self.get_slot(var, "accum_update")
        return _update(
            _ops.apply_adadelta,
            [var, accum, update],
            var,
            accum,
            update,
            hyper["learning_rate"],
            hyper["rho"],
            hyper["epsilon"],
            grad,
        )


class RMSPropOptimizer(Optimizer):
    """RMSProp (not centered): ``ms = decay * ms + (1 - decay) * grad**2``;
    ``mom = momentum * mom + learning_rate * grad / sqrt(ms + epsilon)``; ``var -= mom``.

    As in TensorFlow 1, the mean-square slot ``rms`` starts at 1.
    """

    _initial_rms = 1.0

    def __init__(
        self,
        learning_rate: Any,
        decay: Any = 0.9,
        momentum: Any = 0.0,
        epsilon: Any = 1e-10,
        name: str = "RMSProp",
    ) -> None:
        super().__init__(learning_rate, name)
        self._set_hyper("decay", decay)
        self._set_hyper("momentum", momentum)
        self._set_hyper("epsilon", epsilon)

    def _slot_names(self) -> list[str]:
        return ["rms", "momentum"]

    def _create_slots(self, var: Any) -> None:
        self._slot(var, "rms", self._initial_rms)
        self._zeros_slot(var, "momentum")

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        ms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        return _update(
            _ops.apply_rms_prop,
            [var, ms, mom],
            var,
            ms,
            mom,
            hyper["learning_rate"],
            hyper["decay"],
            hyper["momentum"],
            hyper["epsilon"],
            grad,
        )


class AdamOptimizer(Optimizer):
    """Adam (Kingma & Ba), with TensorFlow's bias correction folded into the step size:
    ``lr_t = learning_rate * sqrt(1 - beta2**t) / (1 - beta1**t)``.

    The powers ``beta1**t`` and ``beta2**t`` are two non-trainable variables
    per optimizer (``beta1_power``, ``beta2_power``), multiplied by the betas
    after every step. Hyperparameters take the variable's dtype: for float16
    variables pick ``epsilon`` >= 1e-4 (1e-8 rounds to 0 in float16).
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta1: Any = 0.9,
        beta2: Any = 0.999,
        epsilon: Any = 1e-8,
        name: str = "Adam",
    ) -> None:
        super().__init__(learning_rate, name)
        self._set_hyper("beta1", beta1)
        self._set_hyper("beta2", beta2)
        self._set_hyper("epsilon", epsilon)

    def _slot_names(self) -> list[str]:
        return ["m", "v"]

    def _create_slots(self, var: Any) -> None:
        self._zeros_slot(var, "m")
        self._zeros_slot(var, "v")

    def _create_non_slots(self, first_var: Any) -> None:
        for power, beta in (("beta1_power", "beta1"), ("beta2_power", "beta2")):
            self._non_slot(first_var, power, self._initial_power(beta, first_var))

    def _initial_power(self, beta: str, first_var: Any) -> Callable[[], Any]:
        value = self._hyper[beta]

        def initial() -> Any:
            if isinstance(value, float):
                return np.asarray(value, dtype=first_var.dtype.np)
            return _as_dtype_of(self._resolve(value, None), first_var.dtype)

        return initial

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        b1p = _as_dtype_of(self._get_non_slot(var, "beta1_power"), var.dtype)
        b2p = _as_dtype_of(self._get_non_slot(var, "beta2_power"), var.dtype)
        return _update(
            _ops.apply_adam,
            [var, m, v],
            var,
            m,
            v,
            b1p,
            b2p,
            hyper["learning_rate"],
            hyper["beta1"],
            hyper["beta2"],
            hyper["epsilon"],
            grad,
        )

    def _finish(self, first_var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        updates = []
        for power, beta in (("beta1_power", "beta1"), ("beta2_power", "beta2")):
            p = self._get_non_slot(first_var, power)
            updates.append(assign(p, multiply(p, _as_dtype_of(hyper[beta], p.dtype))))
        return updates


# --------------------------------------------------------------------------- Keras-style names


def _keras_learning_rate(who: str, learning_rate: Any, default: float, lr: Any) -> Any:
    """``lr=``, the name older Keras programs use, as ``learning_rate``."""
    if lr is None:
        return learning_rate
    if not (isinstance(learning_rate, float) and learning_rate == default):
        raise OpDefinitionError(f"{who}: give learning_rate or its older name lr, not both")
    return lr


class SGD(MomentumOptimizer):
    """Keras' ``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)``: gradient descent, with
    momentum when ``momentum`` is not 0 (then the same update as :class:`MomentumOptimizer`)."""

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: Any = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
        *,
        lr: Any = None,
    ) -> None:
        learning_rate = _keras_learning_rate("SGD", learning_rate, 0.01, lr)
        super().__init__(learning_rate, momentum, use_nesterov=nesterov, name=name)
        self._plain = isinstance(self._hyper["momentum"], float) and self._hyper["momentum"] == 0.0

    def _config(self) -> dict[str, Any]:
        return {
            "learning_rate": self._hyper["learning_rate"],
            "momentum": self._hyper["momentum"],
            "nesterov": self._use_nesterov,
        }

    def _slot_names(self) -> list[str]:
        return [] if self._plain else ["momentum"]

    def _create_slots(self, var: Any) -> None:
        if not self._plain:
            super()._create_slots(var)

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        if self._plain:
            return _update(_ops.apply_gradient_descent, [var], var, hyper["learning_rate"], grad)
        return super()._apply_dense(grad, var, hyper)


#: TensorFlow 1's momentum optimizer under a short name.
Momentum = MomentumOptimizer


class Adagrad(AdagradOptimizer):
    """Keras-style ``Adagrad(learning_rate=0.001, initial_accumulator_value=0.1)``."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        name: str = "Adagrad",
        *,
        lr: Any = None,
    ) -> None:
        learning_rate = _keras_learning_rate("Adagrad", learning_rate, 0.001, lr)
        super().__init__(learning_rate, initial_accumulator_value, name=name)


class Adadelta(AdadeltaOptimizer):
    """Keras-style ``Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)``."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: Any = 0.95,
        epsilon: Any = 1e-7,
        name: str = "Adadelta",
        *,
        lr: Any = None,
    ) -> None:
        learning_rate = _keras_learning_rate("Adadelta", learning_rate, 0.001, lr)
        super().__init__(learning_rate, rho, epsilon, name=name)


class RMSprop(RMSPropOptimizer):
    """Keras-style ``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7)``.

    The same update as :class:`RMSPropOptimizer` (``decay`` is called ``rho``),
    but the mean-square slot starts at 0, as in Keras.
    """

    _initial_rms = 0.0

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: Any = 0.9,
        momentum: Any = 0.0,
        epsilon: Any = 1e-7,
        name: str = "RMSprop",
        *,
        lr: Any = None,
    ) -> None:
        learning_rate = _keras_learning_rate("RMSprop", learning_rate, 0.001, lr)
        super().__init__(learning_rate, rho, momentum, epsilon, name=name)

    def _config(self) -> dict[str, Any]:
        h = self._hyper
        return {
            "learning_rate": h["learning_rate"],
            "rho": h["decay"],
            "momentum": h["momentum"],
            "epsilon": h["epsilon"],
        }


class Adam(AdamOptimizer):
    """Keras-style ``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: Any = 0.9,
        beta_2: Any = 0.999,
        epsilon: Any = 1e-7,
        name: str = "Adam",
        *,
        lr: Any = None,
    ) -> None:
        learning_rate = _keras_learning_rate("Adam", learning_rate, 0.001, lr)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name=name)

    def _config(self) -> dict[str, Any]:
        h = self._hyper
        return {
            "learning_rate": h["learning_rate"],
            "beta_1": h["beta1"],
            "beta_2": h["beta2"],
            "epsilon": h["epsilon"],
        }


_BY_NAME: dict[str, Callable[[], Optimizer]] = {
    "sgd": SGD,
    "momentum": lambda: SGD(momentum=0.9),
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "rmsprop": RMSprop,
    "adam": Adam,
}

_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__: cls
    for cls in (
        SGD,
        Adagrad,
        Adadelta,
        RMSprop,
        Adam,
        GradientDescentOptimizer,
        MomentumOptimizer,
        AdagradOptimizer,
        AdadeltaOptimizer,
        RMSPropOptimizer,
        AdamOptimizer,
    )
}


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (``"sgd"``, ``"momentum"``, ``"adagrad"``, ``"adadelta"``,
    ``"rmsprop"``, ``"adam"``, with Keras' default settings), a config dict
    ``{"class_name": "Adam", "config": {...}}``, or an optimizer (returned as is).

    >>> import opcore
    >>> opcore.train.get("adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        factory = _BY_NAME.get(identifier.lower())
        if factory is None:
            raise InvalidArgumentError(
                f"unknown optimizer {identifier!r}; known names: {', '.join(sorted(_BY_NAME))} "
                "(or pass an optimizer object, e.g. opcore.train.Adam(learning_rate=1e-3))"
            )
        return factory()
    if isinstance(identifier, Mapping) and "class_name" in identifier:
        name = str(identifier["class_name"])
        cls = _CLASSES.get(name)
        if cls is None:
            raise InvalidArgumentError(f"unknown optimizer class {name!r}; known: {', '.join(sorted(_CLASSES))}")
        return cls.from_config(identifier.get("config", {}))
    raise InvalidArgumentError(
        f"cannot make an optimizer from {type(identifier).__name__} {identifier!r}; pass one of the names "
        f"{', '.join(sorted(_BY_NAME))}, a config dict or an optimizer object"
    )
