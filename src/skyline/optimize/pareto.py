"""Pareto fronts over model variants: keep a variant unless another is at least as good on
every objective and strictly better on one (accuracy up; size and latency down)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from skyline.errors import ConfigError


def dominates(
    a: Mapping[str, float], b: Mapping[str, float], minimize: Sequence[str], maximize: Sequence[str]
) -> bool:
    """Is `a` at least as good as `b` on every objective and better on one?"""
    no_worse = all(a[k] <= b[k] for k in minimize) and all(a[k] >= b[k] for k in maximize)
    better = any(a[k] < b[k] for k in minimize) or any(a[k] > b[k] for k in maximize)
    return no_worse and better


def pareto_front(
    points: Sequence[Mapping[str, float]],
    *,
    minimize: Sequence[str] = (),
    maximize: Sequence[str] = (),
) -> list[int]:
    """Indices of the non-dominated points, in input order (O(n^2): variants are few)."""
    keys = [*minimize, *maximize]
    if not keys:
        raise ConfigError("no objectives", fix="name at least one key to minimize or maximize")
    missing = sorted({k for p in points for k in keys if k not in p})
    if missing:
        raise ConfigError(f"points lack objectives {missing}", fix="give every point every key")
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p, minimize, maximize) for j, q in enumerate(points) if j != i)
    ]
