"""Graph collections (TensorFlow 1's ``tf.add_to_collection`` / ``tf.get_collection``):
named lists of values that a graph keeps for code that builds it, with the
standard names in :class:`GraphKeys`.

:class:`GraphCollections` holds the methods that :class:`~opcore.graph.Graph`
inherits; the functions acting on the default graph (``opcore.get_collection``,
...) are in :mod:`opcore.graph`.
"""

from __future__ import annotations

import re
from typing import Any

from opcore._graph_nodes import GraphVariable

__all__ = ["GraphCollections", "GraphKeys"]


class GraphKeys:
    """Names of the standard graph collections (TensorFlow 1's ``tf.GraphKeys``)."""

    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    SUMMARIES = "summaries"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"


class GraphCollections:
    """A graph's collections; the variable collections also hold the graph's variables."""

    _collections: dict[str, list[Any]]
    variables: list[GraphVariable]

    def add_to_collection(self, name: str, value: Any) -> None:
        """Append ``value`` to the collection ``name`` (TensorFlow 1's graph collections)."""
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names: Any, value: Any) -> None:
        """Add ``value`` to each collection in ``names`` (a name or an iterable of names), once per name."""
        for name in dict.fromkeys([names] if isinstance(names, str) else names):
            self.add_to_collection(name, value)

    def get_collection_ref(self, name: str) -> list[Any]:
        """The collection's own list (changes to it change the collection)."""
        return self._collections.setdefault(name, [])

    def get_collection(self, name: str, scope: str | None = None) -> list[Any]:
        """A copy of collection ``name``, only the items whose ``name`` matches regex ``scope`` from its start
        when given. The variable collections also hold the graph's variables."""
        items = list(self._collections.get(name, []))
        if name == GraphKeys.GLOBAL_VARIABLES:
            items = [*self.variables, *items]
        elif name == GraphKeys.TRAINABLE_VARIABLES:
            items = [*self.trainable_variables(), *items]
        if scope is None:
            return items
        pattern = re.compile(scope)
        return [x for x in items if isinstance(getattr(x, "name", None), str) and pattern.match(x.name)]

    def get_all_collection_keys(self) -> list[str]:
        return list(self._collections)

    def trainable_variables(self) -> list[GraphVariable]:
        return [v for v in self.variables if v.trainable]
