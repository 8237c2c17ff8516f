"""Conformance specs: reduce family."""

from __future__ import annotations

from opcore_conformance.spec import OpSpec

SPECS: list[OpSpec] = []
