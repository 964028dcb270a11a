"""What a run did: per batch and summed, as ``tlog sequence --json`` prints it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchStats", "RunSummary"]


@dataclass
class BatchStats:
    """What one batch did (also summed over a run)."""

    admitted: int = 0
    rejected: int = 0
    duplicates: int = 0
    objects_written: int = 0
    objects_read: int = 0

    def add(self, other: BatchStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class RunSummary:
    """The JSON summary of ``tlog sequence``."""

    origin: str
    size: int
    root: str
    stats: BatchStats = field(default_factory=BatchStats)
    batches: int = 0
    recovered: bool = False
    published: bool = True
    witnesses: dict[str, str] = field(default_factory=dict)
    short_of_witnesses: bool = False  # the policy was not met (published or not): not JSON
    seconds: float = 0.0
    lost_race: str | None = None  # why this run stopped early: another sequencer committed

    def as_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root,
            "admitted": self.stats.admitted,
            "rejected": self.stats.rejected,
            "duplicates": self.stats.duplicates,
            "objects_written": self.stats.objects_written,
            "objects_read": self.stats.objects_read,
            "batches": self.batches,
            "recovered": self.recovered,
            "published": self.published,
            "witnesses": self.witnesses,
            "seconds": round(self.seconds, 3),
            "lost_race": self.lost_race,
        }
