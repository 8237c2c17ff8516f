"""Files on disk: checkpoints (variables in safetensors, graphs as versioned JSON) in TensorFlow 1's layout."""

from opcore.io.atomic import atomic_write
from opcore.io.checkpoint import Saver, export_graph, export_meta_graph, import_graph, import_meta_graph
from opcore.io.checkpoint_state import (
    CheckpointState,
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    update_checkpoint_state,
)
from opcore.io.reader import list_variables, load_variable

__all__ = [
    "CheckpointState",
    "Saver",
    "atomic_write",
    "checkpoint_exists",
    "export_graph",
    "export_meta_graph",
    "get_checkpoint_state",
    "import_graph",
    "import_meta_graph",
    "latest_checkpoint",
    "list_variables",
    "load_variable",
    "update_checkpoint_state",
]
