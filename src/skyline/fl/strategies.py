"""Flower strategies by name, with their client-count requirements checked before a run starts
(Flower's robust strategies otherwise skip a round with only a log line)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skyline.errors import ConfigError, UnknownNameError
from skyline.fl._flower import flower

# name -> (Flower class name, minimum aggregated updates for f malicious ones, extra kwargs)
_STRATEGIES: dict[str, tuple[str, Callable[[int], int], str]] = {
    "fedavg": ("FedAvg", lambda f: 1, ""),
    "fedprox": ("FedProx", lambda f: 1, "proximal_mu"),
    "fedmedian": ("FedMedian", lambda f: 2 * f + 1, ""),
    "trimmedavg": ("FedTrimmedAvg", lambda f: 2 * f + 1, "beta"),
    "krum": ("Krum", lambda f: 2 * f + 3, "num_malicious_nodes"),
    "multikrum": ("MultiKrum", lambda f: 2 * f + 3, "num_malicious_nodes"),
    "bulyan": ("Bulyan", lambda f: 4 * f + 3, "num_malicious_nodes"),
}
STRATEGY_NAMES = tuple(_STRATEGIES)


def required_updates(name: str, malicious: int) -> int:
    """Fewest updates `name` needs to aggregate while tolerating `malicious` bad ones."""
    return _STRATEGIES[_known(name)][1](malicious)


def _known(name: str) -> str:
    if name not in _STRATEGIES:
        raise UnknownNameError(
            f"unknown FL strategy {name!r}", fix=f"use one of: {', '.join(STRATEGY_NAMES)}"
        )
    return name


def create_strategy(
    name: str,
    nodes: int,
    *,
    malicious: int = 0,
    proximal_mu: float = 0.01,
    trim: float = 0.2,
    where: str = "strategy",
) -> Any:
    """The Flower strategy `name` for an aggregator with `nodes` clients, assuming up to
    `malicious` of them are Byzantine. Raises ConfigError up front when `nodes` cannot meet
    the strategy's requirement (Bulyan: 4f + 3, Krum: 2f + 3, median/trimmed mean: 2f + 1)."""
    cls_name, need, extra = _STRATEGIES[_known(name)]
    if malicious < 0:
        raise ConfigError(f"{where}: malicious={malicious} must be >= 0", fix="pass 0 or more")
    if nodes < need(malicious):
        raise ConfigError(
            f"{where}: {name} with {malicious} malicious clients needs at least "
            f"{need(malicious)} clients per aggregation, this aggregator has {nodes}",
            fix="use fewer edges (more clients each), lower the assumed malicious count, "
            "or pick fedmedian/trimmedavg",
        )
    kwargs: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 0.0,
        "min_train_nodes": nodes,
        "min_available_nodes": nodes,
    }
    if extra == "proximal_mu":
        kwargs[extra] = proximal_mu
    elif extra == "beta":  # cut at least `malicious` updates from each tail (Flower: beta < 0.5)
        kwargs[extra] = max(trim, min((malicious + 0.5) / nodes, 0.4999)) if malicious else trim
    elif extra:
        kwargs[extra] = malicious
    if name == "multikrum":
        kwargs["num_nodes_to_select"] = max(1, nodes - malicious)
    return getattr(flower().serverapp_strategy, cls_name)(**kwargs)
