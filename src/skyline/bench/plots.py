"""Plots for reports. matplotlib is the `plot` extra, imported only when a plot is drawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skyline.errors import ConfigError


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError(
            "plotting needs matplotlib", fix="pip install 'skyline[plot]' (or matplotlib)"
        ) from exc
    return plt


def _mark(ax: Any, vlines: dict[str, float] | None) -> None:
    """Labelled vertical lines, each in its own dash style."""
    for (label, x), style in zip((vlines or {}).items(), ("--", ":", "-.", (0, (5, 5)))):
        ax.axvline(x, color="gray", linestyle=style, label=label)


def _finish(plt: Any, fig: Any, ax: Any, path: str | Path) -> Path:
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def line_plot(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    vlines: dict[str, float] | None = None,
) -> Path:
    """One line per series (x, y), saved as PNG; `vlines` marks labelled x positions."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    _mark(ax, vlines)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    return _finish(plt, fig, ax, path)


def scatter_plot(
    xs: Sequence[float],
    ys: Sequence[float],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Points with the y = x line (log-log): predicted vs measured at a glance."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    ax.scatter(xs, ys, s=14)
    lo, hi = min([*xs, *ys]) * 0.8, max([*xs, *ys]) * 1.25
    ax.plot([lo, hi], [lo, hi], color="gray", linestyle="--", label="y = x")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xscale="log", yscale="log")
    return _finish(plt, fig, ax, path)


def cdf_plot(
    samples: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    vlines: dict[str, float] | None = None,
) -> Path:
    """Empirical CDF of each sample set (log x when values span more than a decade)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    positive = [v for values in samples.values() for v in values if v > 0]
    for label, values in samples.items():
        xs = sorted(values)
        ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post", label=label)
    _mark(ax, vlines)
    if positive and max(positive) > 10 * min(positive):
        ax.set_xscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel="fraction of requests", ylim=(0, 1.02))
    return _finish(plt, fig, ax, path)


def pareto_plot(
    points: Mapping[str, tuple[float, float]],
    front: Sequence[str],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Labelled points with the Pareto-optimal ones joined by a dashed line (in `front` order)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for label, (x, y) in points.items():
        ax.scatter([x], [y], s=30, label=label, zorder=3)
    if len(front) > 1:
        xs, ys = zip(*(points[name] for name in front))
        ax.plot(xs, ys, color="gray", linestyle="--", label="Pareto front")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return _finish(plt, fig, ax, path)
