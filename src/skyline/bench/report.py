"""Reports of collaborative-inference runs: JSON, Markdown and PNG plots in one folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skyline.bench.plots import line_plot, scatter_plot

_COLUMNS = (
    "model",
    "link",
    "planner",
    "placement",
    "predicted ms",
    "p50 ms",
    "p95 ms",
    "bytes up",
    "energy J (est.)",
    "regret",
    "speedup",
)


def best_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (model, link, planner): the planner's plan, measured beside predicted."""
    rows = []
    for case in results["cases"]:
        by_key = {row["plan"]: row for row in case["rows"]}
        best = min(row["measured"]["p50_ms"] for row in case["rows"])
        single = [
            by_key[k]["measured"]["p50_ms"]
            for p in ("edge-only", "cloud-only")
            if (k := case["chosen"].get(p)) in by_key
        ]
        for planner, key in case["chosen"].items():
            if key is None:
                continue
            row = by_key[key]
            measured = row["measured"]
            rows.append(
                {
                    "model": case["model"],
                    "link": case["link"],
                    "planner": planner,
                    "placement": " ".join(f"{n}:{c}" for n, c in row["placement"].items()),
                    "predicted_ms": row["predicted_ms"],
                    "p50_ms": measured["p50_ms"],
                    "p95_ms": measured["p95_ms"],
                    "bytes_up": measured["bytes_up_p50"],
                    "energy_j": row["energy_j_estimate"],
                    "regret": measured["p50_ms"] / best - 1,
                    "speedup": (min(single) / measured["p50_ms"]) if single else None,
                    "outcomes": measured["outcomes"],
                }
            )
    return rows


def write_report(results: dict[str, Any], out_dir: str | Path) -> Path:
    """results.json, report.md and plots; returns the Markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    rows = best_rows(results)
    measured = [r for case in results["cases"] for r in case["rows"]]
    scatter_plot(
        [r["predicted_ms"] for r in measured],
        [r["measured"]["p50_ms"] for r in measured],
        out / "predicted_vs_measured.png",
        title="Predicted vs measured p50 latency (every measured plan)",
        xlabel="predicted latency (ms)",
        ylabel="measured p50 latency (ms)",
    )
    links = list(results["config"]["links"])
    plots = []
    for model in results["config"]["models"]:
        series: dict[str, tuple[Sequence[float], Sequence[float]]] = {}
        for planner in results["config"]["planners"]:
            points = [
                (links.index(r["link"]), r["p50_ms"])
                for r in rows
                if r["model"] == model and r["planner"] == planner
            ]
            if points:
                series[planner] = ([p[0] for p in points], [p[1] for p in points])
        path = line_plot(
            series,
            out / f"latency-{model}.png",
            title=f"{model}: measured p50 latency per link",
            xlabel="link (" + ", ".join(f"{i}={name}" for i, name in enumerate(links)) + ")",
            ylabel="measured p50 latency (ms)",
            logy=True,
        )
        plots.append(path.name)
    metrics = results["metrics"]
    config = results["config"]
    lines = [
        "# Skyline collaborative inference run",
        "",
        f"Mode: **{results['mode']}**. Edge speed measured at "
        f"{results['device_speed_measured']:.3f} of this host's CPU (the cost model uses it).",
        f"Machine: {results['machine']['cpu']}, {results['machine']['logical_cpus']} logical CPUs, "
        f"load average {results['machine']['load_average_1_5_15_min']}.",
        f"Requests per plan: {config['requests']} measured after {config['warmup']} warm-up; "
        "latency is wall time at the edge (p50/p95). Energy is an estimate: the edge's power model "
        "applied to measured times and bytes.",
        "",
        "## Summary",
        "",
        f"- median |predicted - measured| / measured: {metrics['prediction_error_median']:.1%} "
        f"(max {metrics['prediction_error_max']:.1%})",
    ]
    for planner, value in metrics["regret_median"].items():
        speed = metrics["speedup_vs_best_single_site_median"].get(planner)
        lines.append(
            f"- {planner}: regret vs best measured plan median {value:.1%} (max "
            f"{metrics['regret_max'][planner]:.1%})"
            + (f", speedup vs best single site median {speed:.2f}x" if speed else "")
        )
    lines += [
        "",
        "## Per case",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for r in rows:
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        cells = [
            r["model"],
            r["link"],
            r["planner"],
            r["placement"],
            f"{r['predicted_ms']:.1f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['bytes_up']:.0f}",
            f"{r['energy_j']:.3f}",
            f"{r['regret']:.1%}",
            speedup,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Plots", "", "![predicted vs measured](predicted_vs_measured.png)", ""]
    lines += [f"![{p}]({p})" for p in plots]
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n")
    return md
