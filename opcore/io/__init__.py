"""Files on disk: checkpoints (variables in safetensors, graphs as versioned JSON)."""

from opcore.io.atomic import atomic_write
from opcore.io.checkpoint import Saver, export_graph, import_graph, import_meta_graph

__all__ = ["Saver", "atomic_write", "export_graph", "import_graph", "import_meta_graph"]
