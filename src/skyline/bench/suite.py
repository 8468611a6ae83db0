"""Run a benchmark scenario into a folder, and read such a folder back.

A run folder holds everything a report (or a reader) needs, as plain files:

- `scenario.json`: the validated scenario as run (after --quick and --seeds);
- `environment.json`: versions, machine, load average before and after, seeds, wall time;
- `results.jsonl` and `results.csv`: one metric value per line (strategy, seed, metric, phase,
  value, unit, source = measured/simulated/predicted, timing, lower_is_better);
- `series.json`: per seed, what plots draw (per-request latencies, runner-specific series).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import torch

from skyline._version import __version__
from skyline.bench.machine import machine_info
from skyline.bench.runner import MetricRow, Progress, RunData
from skyline.bench.scenario import BenchScenario, load_bench_scenario
from skyline.errors import ConfigError

_FILES = ("scenario.json", "environment.json", "results.jsonl", "series.json")
_CSV_COLUMNS = (
    "scenario",
    "seed",
    "strategy",
    "metric",
    "phase",
    "key",
    "value",
    "unit",
    "source",
    "timing",
    "lower_is_better",
)


def run_benchmark(
    scenario: BenchScenario | str | Path,
    out_dir: str | Path,
    *,
    seeds: int | None = None,
    quick: bool = False,
    progress: Progress | None = None,
) -> RunData:
    """Run every strategy of `scenario` over its seeds (or `seeds` of them) into `out_dir`."""
    sc = scenario if isinstance(scenario, BenchScenario) else load_bench_scenario(scenario)
    if quick:
        sc = sc.quick_variant()
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds {seeds}", fix="run at least one seed")
        sc = sc.model_copy(update={"seeds": seeds})
    seed_list = [sc.seed + i for i in range(sc.seeds)]
    settings, topology = sc.settings(), sc.build_topology()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create {out}: {exc.strerror}", fix="pick a writable folder"
        ) from None
    started = datetime.now(UTC).isoformat(timespec="seconds")
    before = machine_info()
    t0 = time.perf_counter()
    contexts = sc.runner().run(sc, settings, topology, seed_list, progress)
    environment = {
        "skyline": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pydantic": pydantic.__version__,
        "platform": platform.platform(),
        "machine": before,
        "load_average_after_1_5_15_min": list(os.getloadavg()),
        "started_utc": started,
        "wall_s": time.perf_counter() - t0,
        "seeds": seed_list,
        "quick": quick,
        "command": sys.argv,
    }
    run = RunData(
        scenario=sc.model_dump(mode="json"),
        environment=environment,
        rows=[row for ctx in contexts for row in ctx.rows],
        series={str(ctx.seed): ctx.series for ctx in contexts},
    )
    _write(run, out)
    return run


def _write(run: RunData, out: Path) -> None:
    (out / "scenario.json").write_text(json.dumps(run.scenario, indent=2))
    (out / "environment.json").write_text(json.dumps(run.environment, indent=2))
    (out / "series.json").write_text(json.dumps(run.series))
    dicts = [row.to_dict() for row in run.rows]
    (out / "results.jsonl").write_text("".join(json.dumps(d) + "\n" for d in dicts))
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=_CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(dicts)


def load_run(run_dir: str | Path) -> RunData:
    """A run folder written by `run_benchmark` (or `skyline bench run`)."""
    folder = Path(run_dir)
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"{folder} is not a benchmark run folder (missing {', '.join(missing)})",
            fix="give the --out folder of `skyline bench run`",
        )
    try:
        scenario: dict[str, Any] = json.loads((folder / "scenario.json").read_text())
        environment: dict[str, Any] = json.loads((folder / "environment.json").read_text())
        series: dict[str, dict[str, Any]] = json.loads((folder / "series.json").read_text())
        lines = (folder / "results.jsonl").read_text().splitlines()
        rows = [MetricRow.from_dict(json.loads(line)) for line in lines if line.strip()]
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{folder}: a run file is damaged ({exc})", fix="rerun `skyline bench run`"
        ) from None
    return RunData(scenario, environment, rows, series)
