"""The values of an objectives file (objectives/*.yaml): what "better" means for a repository.

Parsed by orchestrator.config.objectives; read by the planning, grooming and scoring policies, which import
these types from here so they never load the YAML parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Metric:
    name: str
    weight: float
    direction: Literal["up", "down"]
    source: str


@dataclass(frozen=True)
class Objective:
    repo: str
    primary_outcome: str
    evaluation_window_days: int
    metrics: tuple[Metric, ...]
    path: Path | None
