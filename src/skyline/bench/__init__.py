"""Measurement plumbing and the benchmark suite: where and under what load we measured, metrics
with units, scenario files, runner plug-ins (one per scenario kind), run folders and reports."""

from skyline.bench.html_report import write_html_report
from skyline.bench.machine import machine_info
from skyline.bench.metrics import METRICS, Metric, leaderboard
from skyline.bench.runner import RUNNERS, MetricRow, ScenarioRunner, SeedContext, runners
from skyline.bench.scenario import BenchScenario, load_bench_scenario
from skyline.bench.suite import load_run, run_benchmark

__all__ = [
    "METRICS",
    "RUNNERS",
    "BenchScenario",
    "Metric",
    "MetricRow",
    "ScenarioRunner",
    "SeedContext",
    "leaderboard",
    "load_bench_scenario",
    "load_run",
    "machine_info",
    "run_benchmark",
    "runners",
    "write_html_report",
]
