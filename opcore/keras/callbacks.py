"""What ``Model.fit`` returns."""

from __future__ import annotations

from typing import Any

__all__ = ["History"]


class History:
    """The per-epoch record of a ``fit`` call.

    ``history.history`` maps each metric name (``"loss"``, ``"accuracy"``,
    ``"val_loss"`` ...) to its list of per-epoch values; ``history.epoch`` lists
    the epoch indices; ``history.params`` holds the fit settings.
    """

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = dict(params or {})
        self.model: Any = None

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record the logs of one finished epoch."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"
