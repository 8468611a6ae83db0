"""Differential privacy: DP-SGD inside a client with Opacus (its RDP accountant's history is
carried across rounds, so epsilon is cumulative), and Flower's server-side fixed-clipping
wrapper with Flower's RDP accountant for client-level DP at an aggregator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from skyline.errors import ConfigError

History = list[tuple[float, float, int]]


@dataclass(frozen=True)
class DPSGD:
    """Sample-level DP for a client's local training: per-sample gradients clipped to
    `max_grad_norm`, Gaussian noise `noise_multiplier` * norm, Poisson-sampled batches."""

    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    delta: float = 1e-5

    def __post_init__(self) -> None:
        _check(self.delta, noise_multiplier=self.noise_multiplier, max_grad_norm=self.max_grad_norm)


@dataclass(frozen=True)
class ServerDP:
    """Client-level DP at an aggregator: each update clipped to `clipping_norm`, Gaussian noise
    `noise_multiplier` * norm on the sum (Flower's DifferentialPrivacyServerSideFixedClipping)."""

    noise_multiplier: float = 1.0
    clipping_norm: float = 1.0
    delta: float = 1e-3

    def __post_init__(self) -> None:
        _check(self.delta, noise_multiplier=self.noise_multiplier, clipping_norm=self.clipping_norm)

    def wrap(self, strategy: Any, clients: int) -> Any:
        """`strategy` (a Flower FedAvg) behind Flower's clipping + noise wrapper with an RDP
        accountant over `clients` (every one takes part in every round: no amplification)."""
        from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping
        from flwr.supercore.privacy_accounting import (
            NeighboringRelation,
            PrivacyConfig,
            SamplingMethod,
        )
        from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

        try:
            accountant = RdpAccountant(
                PrivacyConfig(
                    target_delta=self.delta,
                    population_size=clients,
                    neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                    sampling_method=SamplingMethod.NO_AMPLIFICATION,
                )
            )
        except ImportError as exc:
            raise ConfigError(
                "Flower's privacy accountant needs dp-accounting", fix='pip install "skyline[fl]"'
            ) from exc
        return DifferentialPrivacyServerSideFixedClipping(
            strategy,
            noise_multiplier=self.noise_multiplier,
            clipping_norm=self.clipping_norm,
            num_sampled_clients=clients,
            accountant=accountant,
        )


def _check(delta: float, **positive: float) -> None:
    for name, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{name}={value} must be > 0", fix=f"set {name} to e.g. 1.0")
    if not 0 < delta < 1:
        raise ConfigError(f"delta={delta} is outside (0, 1)", fix="use e.g. 1e-5 (below 1/n)")


def private_training(
    model: nn.Module, data: TensorDataset, lr: float, batch_size: int, spec: DPSGD, history: History
) -> tuple[nn.Module, Any, DataLoader[Any], Any]:
    """(private model, optimizer, Poisson loader, engine) with the accountant resumed from
    `history`; read the new history and epsilon from the engine after training."""
    try:
        from opacus import PrivacyEngine
    except ImportError as exc:
        raise ConfigError("DP-SGD needs Opacus", fix='pip install "skyline[fl]"') from exc
    import torch

    engine = PrivacyEngine(accountant="rdp")
    engine.accountant.history = [tuple(h) for h in history]
    private, optimizer, loader = engine.make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
        data_loader=DataLoader(data, batch_size=batch_size),
        noise_multiplier=spec.noise_multiplier,
        max_grad_norm=spec.max_grad_norm,
        poisson_sampling=True,
    )
    return private, optimizer, loader, engine
