"""`skyline bench run|report`: application scenarios as reproducible benchmarks with a report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from skyline.bench.html_report import ranked, summarize, write_html_report
from skyline.bench.metrics import split_key
from skyline.bench.runner import RunData
from skyline.bench.scenario import load_bench_scenario, packaged_scenarios
from skyline.bench.suite import load_run, run_benchmark
from skyline.cli._common import console, new_table

bench_app = typer.Typer(
    help="Benchmark scenarios (industrial, ...): run them, then report measured vs predicted."
)


def _show(run: RunData, report: Path) -> None:
    """The leaderboard with strategies as columns, best first by the scenario's first metric."""
    keys: list[str] = run.scenario["metrics"]
    cells = summarize(run)
    order = ranked(cells, keys[0])
    table = new_table(
        f"{run.scenario['name']}: strategies ranked by {keys[0]}, mean over "
        f"{len(run.environment['seeds'])} seed(s)",
        ["metric", *order],
        right=set(order),
        caption="m = measured, s = simulated, p = predicted; ↓ lower / ↑ higher is better",
    )
    for key in keys:
        metric, _ = split_key(key)
        row = [f"{key} ({metric.unit} {'↓' if metric.lower_is_better else '↑'})"]
        for name in order:
            cell = cells[name].get(key)
            row.append(f"{cell.text()} {'/'.join(s[0] for s in cell.sources)}" if cell else "-")
        table.add_row(*row)
    console.print(table)
    console.print(f"wrote {report}", highlight=False)


@bench_app.command("run")
def run_command(
    scenario: Annotated[
        str,
        typer.Argument(
            metavar="SCENARIO",
            help=f"packaged scenario ({', '.join(packaged_scenarios())}) or a .toml file",
            show_default=False,
        ),
    ],
    seeds: Annotated[
        int | None, typer.Option("--seeds", min=1, help="seeds to run (default: the scenario's)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", file_okay=False, help="run folder (default: bench-runs/NAME-TIME)"),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="the scenario's reduced version (CI-sized)")
    ] = False,
) -> None:
    """Run every strategy of SCENARIO; write JSONL, CSV, environment and an HTML report."""
    sc = load_bench_scenario(scenario)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = out or Path("bench-runs") / f"{sc.name}{'-quick' if quick else ''}-{stamp}"
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(sc.name, total=1.0)

        def moved(fraction: float, label: str) -> None:
            progress.update(bar, completed=fraction, description=f"{sc.name}: {label}")

        run = run_benchmark(sc, folder, seeds=seeds, quick=quick, progress=moved)
    _show(run, write_html_report(folder))


@bench_app.command("report")
def report_command(
    run_dir: Annotated[
        Path,
        typer.Argument(metavar="RUN_DIR", help="folder written by `skyline bench run`"),
    ],
) -> None:
    """(Re)write RUN_DIR/report.html from its results and print the leaderboard."""
    report = write_html_report(run_dir)
    _show(load_run(run_dir), report)
