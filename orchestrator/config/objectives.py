"""objectives/*.yaml: what "better" means for a repository, read by the planning and scoring jobs.

One file per repository. `example.yaml` is the documented template and is skipped unless asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .fields import (
    INVALID,
    Check,
    ConfigError,
    Field,
    Integer,
    NestedList,
    Number,
    OneOf,
    ParseContext,
    Section,
    Text,
    parse_section,
)
from .objective_types import Metric as Metric
from .objective_types import Objective as Objective
from .secret_scan import report_inline_secrets
from .yaml_source import read_yaml

EXAMPLE_NAME = "example.yaml"


def _check_metric_names(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    names = [metric.name if metric is not INVALID else None for metric in values["metrics"]]
    return [
        (f"metrics[{index}].name", f'duplicate metric "{name}"')
        for index, name in enumerate(names)
        if name is not None and name in names[:index]
    ]


METRIC = Section(
    (
        Field("name", Text(), "metric name, unique within the file"),
        Field("weight", Number(above=0), "relative weight in the objective's score", 1.0),
        Field("direction", OneOf("up", "down"), "whether a higher (up) or lower (down) value is better"),
        Field(
            "source",
            Text(),
            "where the value comes from: a name the scoring job understands, e.g. `events:pr_merged`",
        ),
    ),
    Metric,
)

OBJECTIVE = Section(
    (
        Field("repo", Text(), "the repository: its config key or owner/name"),
        Field("primary_outcome", Text(), "the outcome work on this repository should move, in one sentence"),
        Field(
            "evaluation_window_days", Integer(1), "metrics are compared over windows of this many days", 14
        ),
        Field("metrics", NestedList(METRIC, min_items=1), "how progress is measured"),
    ),
    Objective,
    (Check(("metrics",), _check_metric_names),),
)


def parse_objective(data: object, source: str = "<objective>", path: Path | None = None) -> Objective:
    """Validate one parsed objectives file; problems are prefixed with `source`."""
    ctx = ParseContext(base_dir=path.parent if path else Path.cwd())
    report_inline_secrets(data, ctx)
    objective: Objective = parse_section(OBJECTIVE, data, "", ctx, {"path": path})
    if ctx.problems:
        raise ConfigError([f"{source}: {problem}" for problem in ctx.problems], source)
    return objective


def load_objectives(directory: Path, include_example: bool = False) -> tuple[Objective, ...]:
    """Every objectives file in `directory` (sorted by name); one ConfigError listing every problem."""
    if not directory.is_dir():
        return ()
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    objectives: list[Objective] = []
    problems: list[str] = []
    for file in files:
        if file.name == EXAMPLE_NAME and not include_example:
            continue
        try:
            objectives.append(
                parse_objective(read_yaml(file, "it disappeared while reading"), str(file), file)
            )
        except ConfigError as error:
            problems.extend(error.problems)
    seen: dict[str, Path | None] = {}
    for objective in objectives:
        if objective.repo in seen:
            problems.append(
                f"{objective.path}: repo: {objective.repo!r} already has objectives in {seen[objective.repo]}"
            )
        seen.setdefault(objective.repo, objective.path)
    if problems:
        raise ConfigError(problems, str(directory))
    return tuple(objectives)
