"""`skyline demo`: plan, run for real over emulated links from a throttled edge, and report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from skyline.bench.collab import CollabConfig, run_collab
from skyline.bench.report import best_rows, write_report
from skyline.cli._common import console, fmt_bytes, fmt_ms, new_table

_DEFAULT = CollabConfig()


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def demo_command(
    models: Annotated[str, typer.Option(help="zoo models, comma-separated")] = ",".join(
        _DEFAULT.models
    ),
    links: Annotated[str, typer.Option(help="link presets, comma-separated")] = ",".join(
        _DEFAULT.links
    ),
    size: Annotated[int, typer.Option(help="input height/width of image models")] = _DEFAULT.size
    or 96,
    requests: Annotated[
        int, typer.Option(min=1, help="measured requests per plan")
    ] = _DEFAULT.requests,
    device_speed: Annotated[
        float, typer.Option(help="edge CPU as a fraction of one host core", min=0.01, max=1.0)
    ] = _DEFAULT.device_speed,
    mode: Annotated[str, typer.Option(help="auto, linux (root) or inproc")] = "auto",
    out: Annotated[Path, typer.Option(help="folder for the run's report")] = Path("runs"),
) -> None:
    """Every planner on several models and links, measured for real, beside the predictions."""
    config = CollabConfig(
        models=_csv(models),
        links=_csv(links),
        size=size,
        requests=requests,
        device_speed=device_speed,
        mode=mode,
    )
    total = len(config.models) * len(config.links)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=total)
        done = -1

        def step(label: str) -> None:
            nonlocal done
            done += 1
            progress.update(task, description=f"measuring {label}", completed=done)

        results = run_collab(config, progress=step)
        progress.update(task, description="done", completed=total)
    folder = out / time.strftime("demo-%Y%m%d-%H%M%S")
    report = write_report(results, folder)
    table = new_table(
        f"Measured vs PREDICTED ({results['mode']}; "
        f"edge speed {results['device_speed_measured']:.2f})",
        [
            "model",
            "link",
            "planner",
            "placement",
            "pred ms",
            "p50 ms",
            "p95 ms",
            "sent up",
            "edge J est.",
            "speedup",
        ],
        right={"pred ms", "p50 ms", "p95 ms", "sent up", "edge J est.", "speedup"},
        caption="speedup: best single site (edge-only or cloud-only, measured) / this plan's p50.",
    )
    for r in best_rows(results):
        table.add_row(
            r["model"],
            r["link"],
            r["planner"],
            r["placement"],
            fmt_ms(r["predicted_ms"]),
            fmt_ms(r["p50_ms"]),
            fmt_ms(r["p95_ms"]),
            fmt_bytes(r["bytes_up"]),
            f"{r['energy_j']:.3f}",
            "-" if r["speedup"] is None else f"{r['speedup']:.2f}x",
        )
    console.print(table)
    missing = sorted(
        {
            f"{p} ({c['model']})"
            for c in results["cases"]
            for p, k in c["chosen"].items()
            if k is None
        }
    )
    if missing:
        console.print(f"no plan (graph too large or infeasible): {', '.join(missing)}")
    m = results["metrics"]
    console.print(
        f"median |predicted - measured| / measured: {m['prediction_error_median']:.1%}; "
        f"dads regret median {m['regret_median'].get('dads', float('nan')):.1%}"
    )
    console.print(f"report: {report} (plots and results.json beside it)")
