"""One self-contained HTML page per benchmark run: leaderboard, provenance, plots, environment.

Plots are PNGs (also left in `plots/`) embedded as data URIs, so the page can be mailed or
attached to an issue alone. Every number carries its source: measured on real processes,
simulated, or predicted by a model.
"""

from __future__ import annotations

import base64
import html
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyline.bench.metrics import leaderboard, pareto_front, split_key
from skyline.bench.plots import cdf_plot, pareto_plot
from skyline.bench.runner import SOURCES, RunData, runners
from skyline.bench.suite import load_run

_SOURCE_MEANING = {
    "measured": "measured in this run on real processes (real model inference, wall-clock "
    "timing with one torch thread, or counted from real outputs)",
    "simulated": "from a simulated clock or protocol (stream arrivals, link transfer "
    "schedules, bytes the protocol moves), deterministic per seed",
    "predicted": "from a model, not observed: the topology link model, the cost model, or a "
    "power model applied to times",
}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.measured { color: #1a6b1a; } .simulated { color: #1a4f8b; } .predicted { color: #a05a00; }
img { max-width: 100%; } code { background: #f3f3f3; padding: 0 0.2em; }
"""


@dataclass(frozen=True)
class Cell:
    """A metric of one strategy over seeds: mean, sample standard deviation, provenance."""

    mean: float
    sd: float
    n: int
    unit: str
    sources: tuple[str, ...]
    timing: bool

    def text(self) -> str:
        if not math.isfinite(self.mean):
            return "n/a"
        spread = f" ± {_num(self.sd)}" if self.n > 1 else ""
        return f"{_num(self.mean)}{spread}"


def _num(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.3g}" if abs(x) < 1e3 else f"{x:,.0f}"


def summarize(run: RunData) -> dict[str, dict[str, Cell]]:
    """strategy -> metric key -> Cell, over seeds (NaN values are left out of the mean)."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in run.rows:
        groups[(row.strategy, row.key)].append(row)
    out: dict[str, dict[str, Cell]] = defaultdict(dict)
    for (strategy, key), rows in groups.items():
        values = [r.value for r in rows if math.isfinite(r.value)]
        mean = statistics.fmean(values) if values else math.nan
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        metric, _ = split_key(key)
        out[strategy][key] = Cell(
            mean,
            sd,
            len(values),
            metric.unit,
            tuple(sorted({r.source for r in rows})),
            any(r.timing for r in rows),
        )
    return dict(out)


def ranked(cells: dict[str, dict[str, Cell]], key: str) -> list[str]:
    """Strategies best first by the mean of column `key` (see `metrics.leaderboard`)."""
    scores = {s: {k: c.mean for k, c in by_key.items()} for s, by_key in cells.items()}
    return [name for name, _ in leaderboard(scores, key)]


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell_html(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    tags = "/".join(cell.sources)
    klass = cell.sources[0] if len(cell.sources) == 1 else ""
    return f'<span class="{klass}">{html.escape(cell.text())}</span> <small>{tags}</small>'


def _label(key: str) -> str:
    """Column or axis title: key, unit and which way is better."""
    metric, _ = split_key(key)
    return f"{key} ({metric.unit}, {'↓' if metric.lower_is_better else '↑'})"


def _leaderboard(run: RunData, cells: dict[str, dict[str, Cell]]) -> str:
    keys: list[str] = run.scenario["metrics"]
    header = ["rank", "strategy", *(html.escape(_label(k)) for k in keys)]
    rows = [
        [str(i + 1), html.escape(name), *(_cell_html(cells[name].get(k)) for k in keys)]
        for i, name in enumerate(ranked(cells, keys[0]))
    ]
    return (
        f"<p>Ranked by <code>{html.escape(keys[0])}</code>; mean ± sample standard deviation "
        f"over {len(run.environment['seeds'])} seed(s); ↓ lower is better, ↑ higher is better."
        "</p>" + _table(header, rows)
    )


def _provenance(run: RunData) -> str:
    """Per source, the metrics it produced (naming the strategies when not all of them)."""
    strategies: set[str] = {row.strategy for row in run.rows}
    by_source: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    timing: set[str] = set()
    for row in run.rows:
        by_source[row.source][row.key].add(row.strategy)
        if row.timing:
            timing.add(row.key)

    def named(key: str, who: set[str]) -> str:
        return key if who == strategies else f"{key} ({', '.join(sorted(who))})"

    items = "".join(
        f'<li><b class="{s}">{s}</b>: {html.escape(_SOURCE_MEANING[s])}. Here: '
        + html.escape(", ".join(named(k, w) for k, w in sorted(by_source[s].items())))
        + ".</li>"
        for s in SOURCES
        if s in by_source
    )
    return (
        f"<ul>{items}</ul><p>Depending on wall-clock time (may differ between reruns from the "
        f"same seed): {html.escape(', '.join(sorted(timing)) or 'none')}. Every other number "
        "reproduces exactly from the seed.</p>"
    )


def _latency_cdf(run: RunData, out: Path) -> tuple[str, Path] | None:
    pooled: dict[str, list[float]] = defaultdict(list)
    deadlines = {s["deadline_ms"] for s in run.series.values() if "deadline_ms" in s}
    for series in run.series.values():
        sources = series.get("latency_source", {})
        for strategy, values in series.get("latency_ms", {}).items():
            pooled[f"{strategy} ({sources.get(strategy, '?')})"].extend(values)
    if not pooled:
        return None
    path = cdf_plot(
        pooled,
        out / "latency_cdf.png",
        title="Per-request latency",
        xlabel="latency (ms)",
        vlines={f"deadline {d:g} ms": d for d in sorted(deadlines)},
    )
    return "Latency CDF per strategy, pooled over seeds; the source is in brackets.", path


def _tradeoffs(
    run: RunData, cells: dict[str, dict[str, Cell]], out: Path
) -> list[tuple[str, Path]]:
    """One plot per scenario `pareto` pair: strategies' means and their Pareto front."""
    figures = []
    for x_key, y_key in run.scenario.get("pareto", []):
        points = {
            name: (by_key[x_key].mean, by_key[y_key].mean)
            for name, by_key in cells.items()
            if x_key in by_key and y_key in by_key
        }
        if not points:
            continue
        front = pareto_front(points, x_key, y_key)
        stem = f"pareto_{x_key}_vs_{y_key}".replace("@", "_at_")
        path = pareto_plot(
            points,
            front,
            out / f"{stem}.png",
            title=f"{y_key} vs {x_key}",
            xlabel=_label(x_key),
            ylabel=_label(y_key),
        )
        sources = sorted(
            {s for name in points for k in (x_key, y_key) for s in cells[name][k].sources}
        )
        caption = (
            f"Trade-off, mean over seeds per strategy; Pareto-optimal: {', '.join(front)}. "
            f"Sources: {', '.join(sources)}."
        )
        figures.append((caption, path))
    return figures


def write_html_report(run_dir: str | Path) -> Path:
    """`report.html` in `run_dir` (plots also as PNGs under `plots/`); returns its path."""
    folder = Path(run_dir)
    run = load_run(folder)
    sc, env = run.scenario, run.environment
    cells = summarize(run)
    plot_dir = folder / "plots"
    figures = [f for f in [_latency_cdf(run, plot_dir)] if f is not None]
    figures += _tradeoffs(run, cells, plot_dir)
    runner = runners().get(sc["kind"])()
    figures += runner.plots(run, plot_dir)
    method = "".join(
        f"<p>{html.escape(' '.join(par.split()))}</p>" for par in runner.method.split("\n\n")
    )
    all_keys = sorted({row.key for row in run.rows})
    full = _table(
        ["metric", *map(html.escape, cells)],
        [[html.escape(k), *(_cell_html(cells[s].get(k)) for s in cells)] for k in all_keys],
    )
    machine = env["machine"]
    env_rows = [
        [
            "skyline / python / torch / numpy",
            f"{env['skyline']} / {env['python']} / {env['torch']} / {env['numpy']}",
        ],
        ["platform", env["platform"]],
        [
            "CPU",
            f"{machine['cpu']} ({machine['logical_cpus']} logical), torch threads while running: 1",
        ],
        ["load average before (1/5/15 min)", str(machine["load_average_1_5_15_min"])],
        ["load average after (1/5/15 min)", str(env["load_average_after_1_5_15_min"])],
        ["started (UTC) / wall time", f"{env['started_utc']} / {env['wall_s']:.1f} s"],
        ["seeds / quick", f"{env['seeds']} / {env['quick']}"],
    ]
    page = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Skyline bench: {html.escape(sc['name'])}</title><style>{_STYLE}</style></head>",
        f"<body><h1>Skyline benchmark: {html.escape(sc['name'])}</h1>",
        f"<p>{html.escape(sc['description'])}</p>",
        f"<p>Kind <code>{html.escape(sc['kind'])}</code>, topology "
        f"<code>{html.escape(sc['topology'])}</code>, strategies "
        f"{html.escape(', '.join(sc['strategies']))}.</p>",
        "<h2>Leaderboard</h2>",
        _leaderboard(run, cells),
        "<h2>Where the numbers come from</h2>",
        _provenance(run),
        method,
        "<h2>Plots</h2>",
        *(_img(path, caption) for caption, path in figures),
        "<h2>All metrics</h2>",
        full,
        "<h2>Environment</h2>",
        _table(["", ""], [[html.escape(a), html.escape(b)] for a, b in env_rows]),
        "</body></html>",
    ]
    path = folder / "report.html"
    path.write_text("\n".join(page), encoding="utf-8")
    return path
