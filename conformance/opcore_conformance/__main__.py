"""``python -m opcore_conformance --backend NAME``: the same as ``opcore conformance``."""

from __future__ import annotations

import sys

from opcore_conformance.cli import main

sys.exit(main())
