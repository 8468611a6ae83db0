"""Secure aggregation on the flat tier with Flower's SecAgg+ workflow (Bell et al. 2020): the
cloud only ever sees the sum of masked, quantized client models. Flower ships SecAgg+ for its
legacy strategy API, so this path uses the legacy FedAvg inside `DefaultWorkflow` and a legacy
NumPyClient behind `secaggplus_mod`, training with the same `local_update` as every other run.

Clients are weighted equally (each reports weight 1): SecAgg+ multiplies a model by its weight
before quantizing, and large sample counts would eat the quantization range. Every protocol
message is metered at its protobuf wire size, so the protocol's overhead over plain FedAvg is
a measured number.

With hierarchy, SecAgg+ composes per tier: each edge runs it over its devices (the edge learns
only its group's sum), and the cloud runs it over edges (it learns only the global sum); an
edge's group must then be large enough for the reconstruction threshold to mean anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from skyline.errors import ConfigError
from skyline.fl.client import ClientSpec, client_id, local_update
from skyline.fl.hierarchy import RoundRecord, grid_view
from skyline.fl.run import FLConfig, FLResult, simulate
from skyline.fl.task import build_model, evaluate, get_weights, set_weights, test_data

Scalar = bool | bytes | float | int | str


def _check(config: FLConfig) -> None:
    unsupported = {
        "mode": (config.mode, "flat"),
        "strategy": (config.strategy, "fedavg"),
        "up_codec": (config.up_codec, "none"),
        "down_codec": (config.down_codec, "none"),
        "server_dp": (config.server_dp, None),
    }
    for field, (value, needed) in unsupported.items():
        if value != needed:
            raise ConfigError(
                f"secure aggregation runs on the flat tier with plain FedAvg; {field}={value!r}",
                fix=f"set {field}={needed!r} for a SecAgg+ run",
            )


def secagg_client(spec: ClientSpec) -> Any:
    """A legacy Flower ClientApp (NumPyClient + secaggplus_mod) training like `client_app`."""
    from flwr.client import NumPyClient
    from flwr.client.mod import secaggplus_mod
    from flwr.clientapp import ClientApp

    class Client(NumPyClient):
        def __init__(self, cid: int, state: Any) -> None:
            self.cid, self.state = cid, state

        def fit(
            self, parameters: list[np.ndarray], config: dict[str, Any]
        ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
            delta, metrics = local_update(spec, self.cid, parameters, config, self.state)
            weights = [p + d for p, d in zip(parameters, delta)]
            return weights, 1, {"train-loss": float(metrics["train-loss"])}

    def client_fn(context: Any) -> Any:
        return Client(client_id(context), context.state).to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


class SecAggFL:
    """The ServerApp body of a SecAgg+ run: `main(grid, context)` trains `config.rounds`
    rounds; `history` gets one RoundRecord per round (bytes = protobuf size of every protocol
    message so far)."""

    def __init__(
        self, config: FLConfig, *, num_shares: float = 0.5, reconstruction_threshold: float = 0.6
    ) -> None:
        _check(config)
        self.config = config
        from flwr.server.workflow import SecAggPlusWorkflow

        try:
            self._secagg = SecAggPlusWorkflow(
                num_shares=num_shares,
                reconstruction_threshold=reconstruction_threshold,
                max_weight=1.0,
                timeout=config.round_timeout_s,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"SecAgg+ num_shares={num_shares}, reconstruction_threshold="
                f"{reconstruction_threshold}: {exc}",
                fix="use num_shares > 2 (or a fraction of clients) and a smaller threshold",
            ) from exc
        self.history: list[RoundRecord] = []
        self.on_round: Callable[[RoundRecord], None] | None = None
        self.wire_bytes = 0
        self._model = build_model(config.task)
        self._test = test_data(config.task)
        self._start = time.perf_counter()

    def _count(self, nbytes: int) -> None:
        self.wire_bytes += nbytes

    def _evaluate(
        self, round_: int, weights: list[np.ndarray], _: dict[str, Scalar]
    ) -> tuple[float, dict[str, Scalar]]:
        set_weights(self._model, weights)
        loss, acc = evaluate(self._model, self._test)
        if round_ > 0:  # round 0 is the initial model
            record = RoundRecord(
                round=round_,
                accuracy=acc,
                loss=loss,
                edge_cloud_bytes=self.wire_bytes,  # flat: every message crosses the backhaul
                device_edge_bytes=self.wire_bytes,
                comm_s=float("nan"),
                device_energy_j=float("nan"),
                replies=self.config.task.clients,
                failures=0,
                epsilon=None,
                wall_s=time.perf_counter() - self._start,
            )
            self.history.append(record)
            if self.on_round is not None:
                self.on_round(record)
        return loss, {"accuracy": acc}

    def main(self, grid: Any, context: Any) -> None:
        from flwr.common import ndarrays_to_parameters
        from flwr.server import LegacyContext, ServerConfig
        from flwr.server.strategy import FedAvg
        from flwr.server.workflow import DefaultWorkflow

        n = self.config.task.clients
        aggregated: list[int] = []

        class Counted(FedAvg):
            """FedAvg that notes every round whose secure aggregate arrived: a halted
            SecAgg+ round otherwise passes silently with the old model."""

            def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
                out = super().aggregate_fit(server_round, results, failures)
                if out[0] is not None:
                    aggregated.append(server_round)
                return out

        strategy = Counted(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=n,
            min_available_clients=n,
            evaluate_fn=self._evaluate,
            on_fit_config_fn=lambda r: {"server-round": r},  # seeds and dropout key on it
            initial_parameters=ndarrays_to_parameters(get_weights(self._model)),
        )
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=self.config.rounds), strategy=strategy
        )
        workflow = DefaultWorkflow(fit_workflow=self._secagg)
        workflow(grid_view(grid, meter=self._count), legacy)
        halted = sorted(set(range(1, self.config.rounds + 1)) - set(aggregated))
        if halted:
            raise ConfigError(
                f"SecAgg+ halted in round(s) {halted}: too few clients completed the protocol",
                fix="lower reconstruction_threshold, raise num_shares, or lower the dropout",
            )

    def client_app(self) -> Any:
        return secagg_client(replace(self.config.client_spec(), uniform_weight=True))


def run_secagg(
    config: FLConfig,
    *,
    num_shares: float = 0.5,
    reconstruction_threshold: float = 0.6,
    on_round: Callable[[RoundRecord], None] | None = None,
    cpus: int | None = None,
) -> FLResult:
    """`config.rounds` rounds of FedAvg under SecAgg+ on Flower's Ray simulation."""
    secagg = SecAggFL(
        config, num_shares=num_shares, reconstruction_threshold=reconstruction_threshold
    )
    secagg.on_round = on_round
    simulate(secagg.main, secagg.client_app(), config.task.clients, cpus)
    if len(secagg.history) != config.rounds:
        raise ConfigError(
            f"the SecAgg+ run stopped after {len(secagg.history)} of {config.rounds} rounds",
            fix="see the Flower log above for the cause",
        )
    return FLResult(config.as_dict(), sorted(config.byzantine_clients()), secagg.history)
