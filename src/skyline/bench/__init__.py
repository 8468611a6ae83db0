"""Measurement plumbing shared by benchmarks and the CLI: where and under what load we measured."""

from skyline.bench.machine import machine_info

__all__ = ["machine_info"]
