"""The `Router` plug-in interface and its registry: routers score prompts, higher = send to
the cloud first; a threshold on the score is the routing decision."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np

from skyline._registry import PluginRegistry
from skyline.errors import ConfigError, RegistryError
from skyline.llm.routing.signals import Labels, Signals


class Router(ABC):
    """Scores prompts by how much sending them to the cloud is worth. Subclasses implement
    `hardness`; `score` (the template) hands labels only to routers that declare
    `needs_labels` (offline bounds) and checks one finite score per prompt comes back. `fit`
    learns from a labelled prompt set for routers that learn (default: nothing)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    needs_labels: ClassVar[bool] = False

    def fit(self, signals: Signals, labels: Labels) -> Self:
        """Learn from prompts other than those it will route."""
        del signals, labels
        return self

    def score(self, signals: Signals, labels: Labels | None = None) -> np.ndarray:
        """One score per prompt; higher = send to the cloud first."""
        if self.needs_labels:
            if labels is None:
                raise ConfigError(
                    f"router {self.name!r} needs the labels (it is an offline bound)",
                    fix="pass labels measured with the target, or pick a deployable router",
                )
            if len(labels) != len(signals):
                raise ConfigError(
                    f"{len(labels)} labels for {len(signals)} prompts",
                    fix="measure labels and signals on the same prompts",
                )
        scores = np.asarray(self.hardness(signals, labels), dtype=np.float64)
        if scores.shape != (len(signals),) or not np.isfinite(scores).all():
            raise RegistryError(
                f"router {self.name!r} returned scores of shape {scores.shape} (or not finite) "
                f"for {len(signals)} prompts",
                fix="return one finite score per prompt from hardness()",
            )
        return scores

    @abstractmethod
    def hardness(self, signals: Signals, labels: Labels | None) -> np.ndarray:
        """Scores for validated inputs (`labels` only when `needs_labels`)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


ROUTERS: PluginRegistry[Router] = PluginRegistry("router", Router, "skyline.llm.routing.Router")
register = ROUTERS.add
check_router = ROUTERS.check
create = ROUTERS.create
names = ROUTERS.names
