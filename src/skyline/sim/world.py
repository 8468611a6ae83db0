"""A scenario compiled to arrays: queues (resources), routes, costs and observations.

Every queue the engines simulate is a resource with `lanes` servers in front of one FIFO queue:
a device's CPU, an edge server, the cloud, and each direction of each link (one lane: a link
serializes). A task's route is up to seven stages (resource, service s, delay after s): the
access uplink, backhaul hops, the server, and the way back. Link service = bytes x seconds per
byte; the link's one-way delay (RTT / 2) follows it without holding the link.

Targets (observation columns): 0 = the device, 1..E = edges, E + 1 = the cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from skyline.sched.observation import Observation
from skyline.sim.spec import Scenario
from skyline.topology import Link, Tier

MAX_STAGES = 7
WaitFn = Callable[[np.ndarray], np.ndarray]
"""Queueing a task would meet now at each given resource id, s."""


def _link_table(
    links: list[Link | None], t_s: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per link: up and down seconds per byte at t_s, and one-way delay (s); zeros for no link."""
    rows = [
        (
            8 / (link.mbps(link.a, t_s) * 1e6) / (1 - link.loss),
            8 / (link.mbps(link.b, t_s) * 1e6) / (1 - link.loss),
            link.rtt_ms / 2e3,
        )
        if link is not None
        else (0.0, 0.0, 0.0)
        for link in links
    ]
    table = np.array(rows, dtype=float).reshape(len(links), 3)
    return table[:, 0], table[:, 1], table[:, 2]


@dataclass(frozen=True)
class Routes:
    """Stages of n tasks, left-packed: columns past `length` are unused."""

    res: np.ndarray
    svc: np.ndarray
    delay: np.ndarray
    length: np.ndarray


class World:
    """Everything the engines need about a scenario, as flat numpy arrays."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        sc = scenario
        D, E = sc.n_devices, len(sc.edges)
        C = 1 if sc.cloud is not None else 0
        self.n_devices, self.n_edges, self.has_cloud = D, E, bool(C)
        sizes = [t.count for t in sc.devices]
        self.group = np.repeat(np.arange(len(sizes)), sizes)
        self.device_names = sc.device_names()
        cloud_name = [sc.cloud.name] if sc.cloud else []
        self.targets = ("local", *(e.name for e in sc.edges), *cloud_name)
        self.tiers = (Tier.DEVICE, *[Tier.EDGE] * E, *[Tier.CLOUD] * C)
        self.cloud_col = E + 1 if C else -1

        # resource id layout
        self.CPU, self.EDGE_CPU, self.CLOUD_CPU = 0, D, D + E
        self.ACC_UP = D + E + C
        self.ACC_DN = self.ACC_UP + D
        self.CELL_UP = self.ACC_DN + D
        self.CELL_DN = self.CELL_UP + E
        self.BH_UP = self.CELL_DN + E
        self.BH_DN = self.BH_UP + E
        self.CL_UP = self.BH_DN + E
        self.CL_DN = self.CL_UP + D
        self.n_resources = self.CL_DN + D
        lanes = np.ones(self.n_resources, dtype=np.int64)
        lanes[: self.ACC_UP] = np.concatenate(
            [
                np.repeat([g.cores for g in sc.devices], sizes),
                [e.cores for e in sc.edges],
                [sc.cloud.cores] if sc.cloud else [],
            ]
        )
        self.lanes = lanes
        self.server_lanes = lanes[self.EDGE_CPU : self.ACC_UP]  # edges, then the cloud
        self.server_names = {self.EDGE_CPU + i: e.name for i, e in enumerate(sc.edges)}
        if sc.cloud:
            self.server_names[self.CLOUD_CPU] = sc.cloud.name

        # links
        self.sizes = sizes
        self.access_links = [
            e.access.link("device", e.name) if e.access else None for e in sc.edges
        ]
        self.backhaul_links = [
            e.backhaul.link(e.name, "cloud") if e.backhaul else None for e in sc.edges
        ]
        self.cloud_links = [
            g.cloud_link.link(g.name, "cloud") if g.cloud_link else None for g in sc.devices
        ]
        links = self.access_links + self.backhaul_links + self.cloud_links
        self.traced = any(link is not None and link.trace is not None for link in links)
        self.shared = np.array([e.shared_access for e in sc.edges], dtype=bool)
        self.has_bh = np.array([e.backhaul is not None for e in sc.edges], dtype=bool)
        self.has_cl = np.repeat([link is not None for link in self.cloud_links], sizes)
        self.at(0.0)

        # compute, data, deadlines, accuracy per task type
        nodes = [g.node() for g in sc.devices]
        self.local_s = np.array([[t.compute_s(n) for n in nodes] for t in sc.tasks])
        edge_nodes = [e.node() for e in sc.edges]
        self.edge_s = np.array([[t.compute_s(n) for n in edge_nodes] for t in sc.tasks])
        self.edge_s = self.edge_s.reshape(len(sc.tasks), E)
        cloud = sc.cloud.node() if sc.cloud else None
        self.cloud_s = np.array([t.compute_s(cloud) if cloud else np.inf for t in sc.tasks])
        self.in_bytes = np.array([t.input_bytes for t in sc.tasks])
        self.out_bytes = np.array([t.output_bytes for t in sc.tasks])
        self.deadline_s = np.array([t.deadline_ms / 1e3 for t in sc.tasks])
        self.accuracy = np.array(
            [[t.accuracy.get(tier, 1.0) for tier in self.tiers] for t in sc.tasks]
        )
        power = [n.power for n in nodes]
        self.idle_w = np.repeat([p.idle_w for p in power], sizes)
        self.extra_w = np.repeat([max(p.active_w - p.idle_w, 0.0) for p in power], sizes)
        self.tx_j_per_byte = np.repeat([8 * p.tx_j_per_bit for p in power], sizes)
        self.rx_j_per_byte = np.repeat([8 * p.rx_j_per_bit for p in power], sizes)

    def at(self, t_s: float) -> None:
        """Take the link rates in force at t_s (bandwidth traces); engines call it every
        mobility window, and a transfer keeps the rate of its task's decision."""
        if t_s > 0 and not self.traced:
            return
        self.acc_up, self.acc_dn, self.acc_delay = _link_table(self.access_links, t_s)
        self.bh_up, self.bh_dn, self.bh_delay = _link_table(self.backhaul_links, t_s)
        self.cl_up, self.cl_dn, self.cl_delay = (
            np.repeat(column, self.sizes) for column in _link_table(self.cloud_links, t_s)
        )

    def resource_name(self, r: int) -> str:
        """Readable name of a resource id (for reports)."""
        if r < self.ACC_UP:
            return self.server_names.get(r) or self.device_names[r]
        devices, edges = self.device_names, [e.name for e in self.scenario.edges]
        kinds = [
            (self.ACC_UP, devices, "access up"),
            (self.ACC_DN, devices, "access down"),
            (self.CELL_UP, edges, "cell up"),
            (self.CELL_DN, edges, "cell down"),
            (self.BH_UP, edges, "backhaul up"),
            (self.BH_DN, edges, "backhaul down"),
            (self.CL_UP, devices, "cloud link up"),
            (self.CL_DN, devices, "cloud link down"),
        ]
        for first, owners, kind in kinds:
            if first <= r < first + len(owners):
                return f"{owners[r - first]} {kind}"
        raise IndexError(f"no resource {r}")

    # -- per-task pieces -------------------------------------------------------------------------
    def _access(self, device: np.ndarray, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Uplink and downlink resource ids of the access link (device queue or cell queue)."""
        shared = self.shared[edge]
        up = np.where(shared, self.CELL_UP + edge, self.ACC_UP + device)
        down = np.where(shared, self.CELL_DN + edge, self.ACC_DN + device)
        return up, down

    def radio_j(self, device: np.ndarray, task_type: np.ndarray) -> np.ndarray:
        """Device radio energy to send a task's input and receive its output, J."""
        return (
            self.tx_j_per_byte[device] * self.in_bytes[task_type]
            + self.rx_j_per_byte[device] * self.out_bytes[task_type]
        )

    def observe(
        self,
        now_s: float,
        device: np.ndarray,
        task_type: np.ndarray,
        edge: np.ndarray,
        wait: WaitFn | None = None,
    ) -> Observation:
        """Predicted costs of every target for each task; `edge` is the attached edge or -1.

        Without `wait` (a policy that reads no queueing state) `wait_s` is all zeros.
        """
        n, E = len(device), self.n_edges
        inb, outb = self.in_bytes[task_type], self.out_bytes[task_type]
        has_e = edge >= 0
        ec = np.maximum(edge, 0)
        T = len(self.targets)
        reach = np.zeros((n, T), dtype=bool)
        reach[:, 0] = True
        compute = np.zeros((n, T))
        transfer = np.zeros((n, T))
        waits = np.zeros((n, T))
        compute[:, 0] = self.local_s[task_type, self.group[device]]
        via_bh = np.zeros(n, dtype=bool)
        if E:
            acc_t = inb * self.acc_up[ec] + outb * self.acc_dn[ec] + 2 * self.acc_delay[ec]
            bh_own = inb * self.bh_up[ec] + outb * self.bh_dn[ec] + 2 * self.bh_delay[ec]
            bh_other = (
                inb[:, None] * self.bh_dn[None, :]
                + outb[:, None] * self.bh_up[None, :]
                + 2 * self.bh_delay[None, :]
            )
            own = np.arange(E)[None, :] == edge[:, None]
            via_bh = has_e & self.has_bh[ec]
            reach[:, 1 : E + 1] = has_e[:, None] & (own | (via_bh[:, None] & self.has_bh[None, :]))
            compute[:, 1 : E + 1] = self.edge_s[task_type]
            transfer[:, 1 : E + 1] = acc_t[:, None] + np.where(own, 0.0, bh_own[:, None] + bh_other)
        if self.has_cloud:
            c = self.cloud_col
            direct = ~via_bh & self.has_cl[device]
            reach[:, c] = via_bh | direct
            compute[:, c] = self.cloud_s[task_type]
            cl_t = inb * self.cl_up[device] + outb * self.cl_dn[device] + 2 * self.cl_delay[device]
            transfer[:, c] = np.where(via_bh, acc_t + bh_own, cl_t) if E else cl_t
        if wait is not None:
            waits[:, 0] = wait(self.CPU + device)
            if E:
                up, down = self._access(device, ec)
                w_acc = wait(up) + wait(down)
                w_bh_own = wait(self.BH_UP + ec) + wait(self.BH_DN + ec)
                cols = np.arange(E)
                w_bh_other = wait(self.BH_DN + cols) + wait(self.BH_UP + cols)
                waits[:, 1 : E + 1] = (
                    w_acc[:, None]
                    + wait(self.EDGE_CPU + cols)[None, :]
                    + np.where(own, 0.0, w_bh_own[:, None] + w_bh_other[None, :])
                )
            if self.has_cloud:
                w_cl = wait(self.CL_UP + device) + wait(self.CL_DN + device)
                w_path = np.where(via_bh, w_acc + w_bh_own, w_cl) if E else w_cl
                waits[:, self.cloud_col] = w_path + wait(np.array([self.CLOUD_CPU]))[0]
        energy = np.repeat(self.radio_j(device, task_type)[:, None], T, axis=1)
        energy[:, 0] = self.extra_w[device] * compute[:, 0]
        return Observation(
            time_s=now_s,
            targets=self.targets,
            tiers=self.tiers,
            device=device,
            task_type=task_type,
            deadline_s=self.deadline_s[task_type],
            edge=np.where(has_e, edge + 1, -1),
            reachable=reach,
            compute_s=compute,
            transfer_s=np.where(reach, transfer, np.inf),
            wait_s=waits,
            energy_j=energy,
            accuracy=self.accuracy[task_type],
            lanes=np.column_stack(
                [self.lanes[self.CPU + device], np.tile(self.server_lanes, (n, 1))]
            ),
        )

    def routes(
        self,
        device: np.ndarray,
        task_type: np.ndarray,
        target: np.ndarray,
        edge: np.ndarray,
        work: np.ndarray,
    ) -> Routes:
        """Stages of each task to its (reachable) target and back."""
        n, E = len(device), self.n_edges
        res = np.zeros((n, MAX_STAGES), dtype=np.int64)
        svc = np.zeros((n, MAX_STAGES))
        delay = np.zeros((n, MAX_STAGES))
        length = np.zeros(n, dtype=np.int64)
        inb, outb = self.in_bytes[task_type], self.out_bytes[task_type]
        ec = np.maximum(edge, 0)
        zero = np.zeros(n)

        def fill(mask: np.ndarray, stages: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
            rows = np.flatnonzero(mask)
            if rows.size == 0:
                return
            for k, (r, s, d) in enumerate(stages):
                res[rows, k], svc[rows, k], delay[rows, k] = r[rows], s[rows], d[rows]
            length[rows] = len(stages)

        local_s = self.local_s[task_type, self.group[device]] * work
        fill(target == 0, [(self.CPU + device, local_s, zero)])
        if E:
            up, down = self._access(device, ec)
            acc_up = (up, inb * self.acc_up[ec], self.acc_delay[ec])
            acc_dn = (down, outb * self.acc_dn[ec], self.acc_delay[ec])
            bh_up = (self.BH_UP + ec, inb * self.bh_up[ec], self.bh_delay[ec])
            bh_dn = (self.BH_DN + ec, outb * self.bh_dn[ec], self.bh_delay[ec])
            on_edge = (target >= 1) & (target <= E)
            e2 = np.clip(target - 1, 0, E - 1)
            server = (self.EDGE_CPU + e2, self.edge_s[task_type, e2] * work, zero)
            own = on_edge & (e2 == edge)
            fill(own, [acc_up, server, acc_dn])
            other_dn = (self.BH_DN + e2, inb * self.bh_dn[e2], self.bh_delay[e2])
            other_up = (self.BH_UP + e2, outb * self.bh_up[e2], self.bh_delay[e2])
            fill(on_edge & ~own, [acc_up, bh_up, other_dn, server, other_up, bh_dn, acc_dn])
        if self.has_cloud:
            to_cloud = target == self.cloud_col
            cloud = (np.full(n, self.CLOUD_CPU), self.cloud_s[task_type] * work, zero)
            via_bh = (edge >= 0) & self.has_bh[ec] if E else np.zeros(n, dtype=bool)
            if E:
                fill(to_cloud & via_bh, [acc_up, bh_up, cloud, bh_dn, acc_dn])
            cl_up = (self.CL_UP + device, inb * self.cl_up[device], self.cl_delay[device])
            cl_dn = (self.CL_DN + device, outb * self.cl_dn[device], self.cl_delay[device])
            fill(to_cloud & ~via_bh, [cl_up, cloud, cl_dn])
        return Routes(res, svc, delay, length)
