"""One FL experiment from one config: flat or hierarchical, on Flower's simulation runtime with
the Ray backend (pinned to 127.0.0.1, a private temp dir, usage stats off)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from skyline._ray import local_init_args, ray_env
from skyline.errors import ConfigError
from skyline.fl._flower import flower
from skyline.fl.client import ClientSpec, client_app
from skyline.fl.dropout import Dropout
from skyline.fl.hierarchy import HierarchicalFL, RoundRecord
from skyline.fl.privacy import DPSGD, ServerDP
from skyline.fl.strategies import create_strategy
from skyline.fl.task import Task
from skyline.fl.traffic import Traffic, fl_topology, tiers
from skyline.topology import Topology

DEPLOYED_EDGE_START_S = 120.0  # a deployed edge starts a Flower run (processes) per cloud round


@dataclass(frozen=True)
class FLConfig:
    """A whole run. `strategy` aggregates devices (at each edge, or at the cloud when flat);
    `cloud_strategy` aggregates edges. `malicious` is the number of Byzantine updates each
    robust aggregator assumes; `byzantine` the fraction of clients that really attack."""

    task: Task = field(default_factory=Task)
    mode: str = "hier"
    edges: int = 4
    rounds: int = 20
    edge_rounds: int = 1
    strategy: str = "fedavg"
    cloud_strategy: str = "fedavg"
    malicious: int = 0
    byzantine: float = 0.0
    attack: str = "sign_flip:4"
    up_codec: str = "none"
    down_codec: str = "none"
    dropout: Dropout = field(default_factory=Dropout)
    dp: DPSGD | None = None
    server_dp: ServerDP | None = None
    proximal_mu: float = 0.01
    round_timeout_s: float = 60.0
    access: str = "wifi"
    backhaul: str = "wan"
    device: str = "phone"

    def __post_init__(self) -> None:
        if self.mode not in ("flat", "hier"):
            raise ConfigError(f"mode={self.mode!r} is unknown", fix="use 'flat' or 'hier'")
        if not 1 <= self.edges <= self.task.clients:
            raise ConfigError(
                f"edges={self.edges} must be between 1 and clients={self.task.clients}",
                fix="use fewer edges than clients",
            )
        if self.rounds < 1:
            raise ConfigError(f"rounds={self.rounds} must be >= 1", fix="use e.g. rounds=20")
        if not 0 <= self.byzantine < 1:
            raise ConfigError(f"byzantine={self.byzantine} is outside [0, 1)", fix="use e.g. 0.2")
        if self.server_dp is not None and self.strategy != "fedavg":
            raise ConfigError(
                f"server-side DP wraps FedAvg; strategy={self.strategy!r}",
                fix="use strategy='fedavg' with server_dp",
            )
        if self.dp is not None and self.strategy == "fedprox":
            raise ConfigError(
                "DP-SGD clips per-sample gradients of the loss only; FedProx's proximal term "
                "would escape the clipping",
                fix="use strategy='fedavg' with dp",
            )

    def topology(self) -> Topology:
        return fl_topology(
            self.task.clients,
            self.edges,
            device=self.device,
            access=self.access,
            backhaul=self.backhaul,
        )

    def byzantine_clients(self) -> frozenset[int]:
        count = round(self.byzantine * self.task.clients)
        rng = np.random.default_rng(self.task.seed + 7)
        return frozenset(int(c) for c in rng.choice(self.task.clients, count, replace=False))

    def client_spec(self) -> ClientSpec:
        return ClientSpec(
            task=self.task,
            byzantine=self.byzantine_clients(),
            attack=self.attack,
            up_codec=self.up_codec,
            down_codec=self.down_codec,
            dropout=self.dropout,
            dp=self.dp,
            uniform_weight=self.server_dp is not None,
        )

    def orchestrator(
        self, *, only_edge: int | None = None, edges_as_clients: bool = False
    ) -> HierarchicalFL:
        """The loop for a simulated run, or for one tier of a deployed one: `only_edge` runs
        edge `only_edge`'s rounds over its devices, `edges_as_clients` the cloud's rounds over
        the edges (see skyline.fl.deploy)."""
        topo = self.topology()
        deployed = only_edge is not None or edges_as_clients
        flat = self.mode == "flat" or deployed

        def edge_strategy(index: int, clients: int) -> Any:
            if edges_as_clients:
                return cloud_strategy(clients)
            where = "strategy" if flat else f"edge {index} strategy"
            strat = create_strategy(
                self.strategy,
                clients,
                malicious=self.malicious,
                proximal_mu=self.proximal_mu,
                where=where,
            )
            return strat if self.server_dp is None else self.server_dp.wrap(strat, clients)

        def cloud_strategy(edges: int) -> Any:
            return create_strategy(
                self.cloud_strategy,
                edges,
                malicious=self.malicious if edges > 1 else 0,
                where="cloud_strategy",
            )

        orch = HierarchicalFL(
            task=self.task,
            tiers=tiers(topo),
            traffic=Traffic(topo),
            edge_strategy=edge_strategy,
            cloud_strategy=cloud_strategy,
            flat=flat,
            only_edge=only_edge,
            edges_as_clients=edges_as_clients,
            edge_rounds=1 if flat else self.edge_rounds,
            up_codec=self.up_codec,
            down_codec=self.down_codec,
            round_timeout_s=self.round_timeout_s * (self.edge_rounds if edges_as_clients else 1)
            + (DEPLOYED_EDGE_START_S if edges_as_clients else 0.0),
        )
        groups = orch.groups()  # check every aggregator's requirement before any training
        for j, g in enumerate(groups):
            edge_strategy(j, len(g))
        if not flat:
            cloud_strategy(len(groups))
        return orch

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FLConfig:
        """Inverse of `as_dict` (after a JSON round trip)."""
        fields = dict(data)
        fields["task"] = Task(**fields["task"])
        drop = dict(fields["dropout"])
        drop["trace"] = {int(r): frozenset(c) for r, c in drop.get("trace", {}).items()}
        fields["dropout"] = Dropout(**drop)
        for key, kind in (("dp", DPSGD), ("server_dp", ServerDP)):
            if fields.get(key) is not None:
                fields[key] = kind(**fields[key])
        return cls(**fields)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (dropout trace sets as sorted lists)."""
        data = asdict(self)
        trace = data["dropout"]["trace"]
        data["dropout"]["trace"] = {str(r): sorted(c) for r, c in trace.items()}
        return data


@dataclass
class FLResult:
    config: dict[str, Any]
    byzantine: list[int]
    history: list[RoundRecord]

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "byzantine": self.byzantine,
            "history": [r.as_dict() for r in self.history],
        }


def simulate(
    main: Callable[[Any, Any], object],
    client: Any,
    nodes: int,
    cpus: int | None,
    client_cpus: float = 1.0,
) -> None:
    """Run ServerApp body `main(grid, context)` against `nodes` copies of ClientApp `client` on
    Flower's simulation runtime; an exception in `main` is raised here, not just logged.
    `client_cpus` < 1 packs several client actors per CPU: a straggler's sleep then does not
    hold a whole CPU's worth of simulated devices back (it would on real devices neither)."""
    fw = flower()
    failure: list[BaseException] = []
    server = fw.serverapp.ServerApp()

    @server.main()
    def _main(grid: Any, context: Any) -> None:
        try:
            main(grid, context)
        except BaseException as exc:  # surfaced in the caller's thread below
            failure.append(exc)

    temp = tempfile.mkdtemp(prefix="skyray")
    ray_env()
    for name in ("flwr", "ray"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        fw.simulation.run_simulation(
            server_app=server,
            client_app=client,
            num_supernodes=nodes,
            backend_config={
                "client_resources": {"num_cpus": client_cpus},
                "init_args": local_init_args(temp, cpus),
            },
        )
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if failure:
        raise failure[0]


def run(
    config: FLConfig,
    *,
    on_round: Callable[[RoundRecord], None] | None = None,
    cpus: int | None = None,
    client_cpus: float = 1.0,
) -> FLResult:
    """Run `config` on Flower's simulation runtime (Ray backend, `client_cpus` per client
    actor)."""
    orch = config.orchestrator()
    simulate(
        lambda grid, _: orch.run(grid, config.rounds, on_round),
        client_app(config.client_spec()),
        config.task.clients,
        cpus,
        client_cpus,
    )
    if len(orch.history) != config.rounds:
        raise ConfigError(
            f"the FL run stopped after {len(orch.history)} of {config.rounds} rounds",
            fix="see the Flower log above for the cause",
        )
    return FLResult(
        config=config.as_dict(),
        byzantine=sorted(config.byzantine_clients()),
        history=orch.history,
    )
