"""Policy-comparison plots of simulation results (PNG, the `plot` extra, drawn lazily)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from skyline.bench.plots import _finish, _pyplot, line_plot
from skyline.sim.run import SimResult


def bar_plot(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
) -> Path:
    """Grouped bars: one group per category, one bar per series."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(categories) + 2), 4.5), dpi=120)
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(categories))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, categories, rotation=30, ha="right")
    ax.set(title=title, ylabel=ylabel)
    return _finish(plt, fig, ax, path)


def policy_plots(results: Mapping[str, SimResult], folder: Path, stem: str) -> list[Path]:
    """Latency CDF, deadline misses, device energy and server utilization per policy."""
    names = list(results)
    any_result = next(iter(results.values()))
    where = f"{any_result.scenario} ({any_result.engine} engine)"
    cdfs = {}
    for name, result in results.items():
        latency_s, fraction = result.histogram.cdf()
        keep = latency_s > 0
        cdfs[name] = ((latency_s[keep] * 1e3).tolist(), fraction[keep].tolist())
    servers = list(any_result.runs[0]["utilization"])
    utilization = {
        server: [
            float(np.mean([r["utilization"][server] for r in res.runs])) for res in results.values()
        ]
        for server in servers
    }
    return [
        line_plot(
            cdfs,
            folder / f"{stem}-latency-cdf.png",
            title=f"Latency CDF, {where}",
            xlabel="latency (ms)",
            ylabel="fraction of tasks",
            logx=True,
        ),
        bar_plot(
            names,
            {"deadline miss rate": [r["deadline_miss_rate"] for r in results.values()]},
            folder / f"{stem}-deadline-misses.png",
            title=f"Deadline misses, {where}",
            ylabel="fraction of tasks",
        ),
        bar_plot(
            names,
            {"mean device energy": [r["device_energy_j_mean"] for r in results.values()]},
            folder / f"{stem}-energy.png",
            title=f"Device energy over the run, {where}",
            ylabel="J per device",
        ),
        bar_plot(
            names,
            utilization,
            folder / f"{stem}-utilization.png",
            title=f"Server utilization (offered load), {where}",
            ylabel="busy core-seconds per core-second",
        ),
    ]
