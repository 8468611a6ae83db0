"""What-if sweeps: re-plan as one link's bandwidth changes (the Neurosurgeon/DADS figure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from skyline.errors import PlanError
from skyline.graph import CostModel, ModelGraph
from skyline.plan.planners import create
from skyline.plan.spec import Constraints, Objective
from skyline.topology import Topology


@dataclass(frozen=True)
class SweepPoint:
    """One planner at one bandwidth: its predicted latency/energy and where it put the ops."""

    mbps: float
    planner: str
    latency_ms: float | None
    device_energy_j: float | None
    placement: dict[str, int]
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def bandwidth_sweep(
    graph: ModelGraph,
    topology: Topology,
    link: tuple[str, str],
    mbps: Sequence[float],
    planners: Sequence[str],
    *,
    objective: Objective | None = None,
    constraints: Constraints | None = None,
) -> list[SweepPoint]:
    """Plan `graph` with each planner at each bandwidth of `link` (both directions scaled alike)."""
    base = topology.link(*link)
    ratio = base.down_mbps / base.up_mbps
    points = []
    for bw in mbps:
        topo = topology.with_link(base.a, base.b, up_mbps=bw, down_mbps=bw * ratio)
        cost_model = CostModel(topo)
        for name in planners:
            try:
                plan = create(name).plan(
                    graph, topo, cost_model=cost_model, objective=objective, constraints=constraints
                )
            except PlanError as exc:
                points.append(SweepPoint(bw, name, None, None, {}, str(exc)))
                continue
            placement = {s.node: len(s.ops) for s in plan.stages if s.ops}
            pred = plan.prediction
            points.append(SweepPoint(bw, name, pred.latency_ms, pred.device_energy_j, placement))
    return points
