"""`edgent`: choose the split, the cut codec and the early exits' thresholds together.

Edgent (Li et al., 2018) right-sizes a multi-exit model and splits it under a latency deadline;
BranchyNet/SPINN exit when confident. One search covers both: for every prefix cut of the
graph's topological order, every codec (with its measured bytes and time), and every
combination of thresholds on calibrated confidence for the early exits computed at the origin
(threshold 0: that exit always answers, Edgent's right-sizing; "never": no early exit), the
predicted mean latency is

    sum_k p_k * (origin time up to exit k) + (1 - sum_k p_k) * (the plan's full latency)

where p_k is the share of held-out samples that leave at exit k (the first confident one), and
the accuracy is counted on the same samples: the exit's answer where one leaves, else the final
exit's answer with the cut tensors really encoded and decoded by the codec (lossy codecs move
answers). The runtime does exactly this (`EdgeWorker(exits=choice.rules())` runs the origin
stage in pieces and stops at the first confident exit), so the prediction holds per request.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from skyline.errors import ConfigError, InfeasiblePlanError, PlanError
from skyline.exits.runtime import ConfidentExit, top_probability
from skyline.graph import CostModel, ModelGraph
from skyline.graph.capture import capture
from skyline.plan import CodecCost, Plan, Problem
from skyline.topology import Topology


@dataclass(frozen=True)
class ExitEvidence:
    """Held-out facts the planner trades: per exit, calibrated confidence and correctness
    (exits x samples); per (cut position, lossy codec), whether the final exit is still right
    when the tensors crossing that cut are coded. Lossless codecs and cuts not listed leave
    the final answers as they are."""

    temperatures: tuple[float, ...]
    confidences: np.ndarray
    correct: np.ndarray
    coded_correct: Mapping[tuple[int, str], np.ndarray]

    @property
    def final_accuracy(self) -> float:
        return float(self.correct[-1].mean())

    def final_correct(self, cut: int, codec: str) -> np.ndarray:
        found = self.coded_correct.get((cut, codec))
        return self.correct[-1] if found is None else found


@dataclass(frozen=True)
class EdgentChoice:
    """The chosen cut, codec and early exits, and what they are predicted to give."""

    plan: Plan
    exits: tuple[tuple[int, str, float, float], ...]  # (exit, value, threshold, temperature)
    codec: str
    cut: int  # ops [0, cut) of the graph order run at the origin
    exit_fractions: tuple[float, ...]  # predicted share answered at each early exit
    latency_ms: float  # predicted mean over requests
    accuracy: float  # on the evidence's samples

    def outcome(self, evidence: ExitEvidence) -> tuple[np.ndarray, float]:
        """Where each evidence sample leaves (early exit index, or the final exit's) and the
        accuracy: what the runtime will do on those samples."""
        conf = evidence.confidences
        where = np.full(conf.shape[1], conf.shape[0] - 1)
        for e, _, threshold, _ in reversed(self.exits):
            where[conf[e] >= threshold] = e
        right = evidence.correct.copy()
        right[-1] = evidence.final_correct(self.cut, self.codec)
        return where, float(right[where, np.arange(len(where))].mean())

    def rules(self) -> list[ConfidentExit]:
        """The `EdgeWorker(exits=...)` rules that make the runtime do what was predicted."""
        return [ConfidentExit(value, temp, t) for _, value, t, temp in self.exits]

    def summary(self) -> dict[str, Any]:
        return {
            "plan": self.plan.key,
            "exits": [{"exit": e, "threshold": t, "temperature": T} for e, _, t, T in self.exits],
            "codec": self.codec,
            "cut": self.cut,
            "exit_fractions": list(self.exit_fractions),
            "predicted_latency_ms": self.latency_ms,
            "accuracy": self.accuracy,
        }


def crossing_values(graph: ModelGraph, cut: int) -> list[str]:
    """Values made before op position `cut` (or model inputs) and read at or after it."""
    names = graph.value_names
    src, dst = graph.edges
    num_in = len(graph.inputs)
    produced = np.concatenate([np.full(num_in, -1), np.arange(graph.num_ops)])
    last = np.full(len(names), -1)
    np.maximum.at(last, src, dst)
    return [names[v] for v in range(len(names)) if produced[v] < cut <= last[v]]


class _CodedRun(torch.fx.Interpreter):
    """Runs a captured graph, passing the values that cross a cut through a codec sample by
    sample just before the first op after the cut (as the runtime sends batch-1 requests)."""

    def __init__(self, gm: torch.fx.GraphModule, at: str, values: set[str], codec: Any) -> None:
        super().__init__(gm)
        self.at, self.values, self.codec = at, values, codec

    def run_node(self, n: torch.fx.Node) -> Any:
        if n.name == self.at:
            for node in list(self.env):
                if node.name in self.values:
                    self.env[node] = torch.cat([self._code(row) for row in self.env[node].split(1)])
        return super().run_node(n)

    def _code(self, row: torch.Tensor) -> torch.Tensor:
        payload, params = self.codec.encode(row)
        return self.codec.decode(memoryview(payload), row.dtype, tuple(row.shape), params)


def exit_evidence(
    model: nn.Module,
    graph: ModelGraph,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    temperatures: Sequence[float],
    *,
    codecs: Sequence[str] = ("fp16", "int8"),
    cuts: Sequence[int] | None = None,
    batch: int = 500,
) -> ExitEvidence:
    """Evidence for `edgent` from held-out `inputs`/`labels`: every exit's calibrated
    confidence, and the final exit's correctness with each lossy codec at every cut of `graph`
    (the planning graph, batch 1; the model is captured again at `batch` rows to run fast).
    `cuts` limits the coded runs to those cut positions (e.g. a chosen plan's, on test data)."""
    from skyline.runtime import codecs as codec_registry

    if len(temperatures) != len(graph.outputs):
        raise ConfigError(
            f"{len(temperatures)} temperatures for {len(graph.outputs)} exits",
            fix="fit one temperature per exit (fit_temperature on held-out logits)",
        )
    n = len(inputs)
    padded = torch.cat([inputs, inputs[:1].expand(-n % batch, *inputs.shape[1:])])
    cap = capture(model, (padded[:batch],))
    ops = [n.name for n in cap.gm.graph.nodes if n.op not in ("placeholder", "get_attr", "output")]
    if ops != [op.name for op in graph.ops]:
        raise PlanError(
            "the model captured at the evidence batch size has other ops than the planning graph",
            fix="pass the model that `graph` was profiled from",
        )
    chunks = padded.split(batch)

    def run(runner: Any) -> list[torch.Tensor]:
        with torch.no_grad():
            outs = [runner(chunk) for chunk in chunks]
        return [torch.cat([o[e] for o in outs])[:n] for e in range(len(graph.outputs))]

    logits = run(lambda chunk: torch.fx.Interpreter(cap.gm).run(chunk))
    target = labels.numpy()
    confidences = np.array(
        [[top_probability(row, t) for row in lg.tolist()] for lg, t in zip(logits, temperatures)]
    )
    correct = np.stack([lg.argmax(dim=-1).numpy() == target for lg in logits])
    coded: dict[tuple[int, str], np.ndarray] = {}
    for name in codecs:
        codec = codec_registry.create(name)
        if codec.lossless:
            continue
        for cut in range(graph.num_ops) if cuts is None else cuts:
            values = set(crossing_values(graph, cut))
            first = graph.ops[cut].name
            final = run(_CodedRun(cap.gm, first, values, codec).run)
            coded[(cut, name)] = final[-1].argmax(dim=-1).numpy() == target
    return ExitEvidence(tuple(float(t) for t in temperatures), confidences, correct, coded)


def edgent(
    graph: ModelGraph,
    topology: Topology,
    evidence: ExitEvidence,
    codec_costs: Mapping[str, CodecCost | None],
    *,
    deadline_ms: float | None = None,
    max_loss: float = 0.01,
    exits: bool = True,
    grid: int = 20,
    path: list[str] | None = None,
    cost_model: CostModel | None = None,
) -> EdgentChoice:
    """The best (cut, codec, exit thresholds) for `graph` on a two-node path.

    Without `deadline_ms`: the lowest predicted mean latency at accuracy >= the final exit's
    (uncoded) accuracy on the evidence minus `max_loss`. With it: the highest accuracy whose
    mean latency meets the deadline (ties: faster). `codec_costs` maps codec name to its
    measured cost (None: free and exact, e.g. "raw"); `exits=False` gives the best no-exit
    split under the same rules, the baseline early exits must beat. Thresholds are searched
    exhaustively over `grid` confidence quantiles (plus "never") per early exit.
    """
    if not 0 <= max_loss < 1 or grid < 1 or not codec_costs:
        raise ConfigError(
            f"max_loss={max_loss}, grid={grid}, codecs={list(codec_costs)}",
            fix="pass 0 <= max_loss < 1, grid >= 1 and at least one codec (e.g. {'raw': None})",
        )
    n_exits = len(graph.outputs)
    if evidence.confidences.shape[0] != n_exits:
        raise ConfigError(
            f"evidence covers {evidence.confidences.shape[0]} exits, the graph has {n_exits}",
            fix="build the evidence with exit_evidence() for this model",
        )
    table = _ThresholdTable(evidence, grid if exits else 0)
    first_cut = np.array([_first_cut_computing(graph, v) for v in graph.outputs[:-1]], dtype=int)
    floor = evidence.final_accuracy - max_loss
    best: tuple[tuple[float, float], EdgentChoice] | None = None
    for codec, cost in codec_costs.items():
        problem = Problem(graph, topology, path=path, cost_model=cost_model, codec=cost)
        if problem.K != 2:
            raise PlanError(
                f"edgent plans one hop; the path has {problem.K} nodes",
                fix="pass path=[origin, server]",
            )
        elapsed = np.concatenate([[0.0], np.cumsum(problem.compute_s[:, 0])])
        for cut in range(graph.num_ops + 1):
            labels = (np.arange(graph.num_ops) >= cut).astype(np.int64)
            b = problem.evaluate(labels)
            if not np.isfinite(b.latency_s):
                continue
            usable = table.usable(first_cut <= cut)
            accuracy = table.accuracy(evidence.final_correct(cut, codec))
            rest = 1 - table.leave.sum(axis=1)
            latency = table.leave @ elapsed[first_cut] + rest * b.latency_s
            if deadline_ms is None:
                ok = usable & (accuracy >= floor - 1e-12)
                keys = np.stack([latency, -accuracy], axis=1)
            else:
                ok = usable & (latency * 1e3 <= deadline_ms)
                keys = np.stack([-accuracy, latency], axis=1)
            if not ok.any():
                continue
            i = int(np.flatnonzero(ok)[np.lexsort(keys[ok].T[::-1])[0]])
            key = (float(keys[i, 0]), float(keys[i, 1]))
            if best is None or key < best[0]:
                thresholds = tuple(float(t) for t in table.thresholds[i])
                best = (
                    key,
                    EdgentChoice(
                        plan=problem.to_plan(labels, "edgent"),
                        exits=tuple(
                            (e, graph.outputs[e], t, evidence.temperatures[e])
                            for e, t in enumerate(thresholds)
                            if math.isfinite(t)
                        ),
                        codec=codec,
                        cut=cut,
                        exit_fractions=tuple(float(f) for f in table.leave[i]),
                        latency_ms=float(latency[i]) * 1e3,
                        accuracy=float(accuracy[i]),
                    ),
                )
    if best is None:
        goal = f"a mean latency <= {deadline_ms} ms" if deadline_ms else f"accuracy >= {floor:.4f}"
        raise InfeasiblePlanError(
            f"no (cut, codec, exits) reaches {goal}",
            fix="relax the deadline or max_loss, or add a faster node or link",
        )
    return best[1]


class _ThresholdTable:
    """Every combination of per-exit thresholds, evaluated once on the evidence: where each
    sample leaves, the share leaving at each early exit and the right answers given there."""

    _MAX_CELLS = 50_000_000

    def __init__(self, evidence: ExitEvidence, grid: int) -> None:
        conf, correct = evidence.confidences[:-1], evidence.correct[:-1]
        n = conf.shape[1]
        options = [[*_between(row, grid), math.inf] if grid else [math.inf] for row in conf]
        if math.prod(len(o) for o in options) * n > self._MAX_CELLS:
            raise ConfigError(
                f"{grid} thresholds for each of {len(options)} early exits over {n} samples "
                "are too many combinations",
                fix="lower grid or use fewer evidence samples",
            )
        self.thresholds = np.array(list(itertools.product(*options)), dtype=float).reshape(
            -1, len(options)
        )
        stops = conf[None] >= self.thresholds[:, :, None]  # combos x exits x samples
        where = np.where(stops.any(axis=1), stops.argmax(axis=1), len(options))
        self.leave = np.stack([(where == e).mean(axis=1) for e in range(len(options))], axis=1)
        self.early_right = sum(
            ((where == e) & correct[e]).sum(axis=1) for e in range(len(options))
        ) / max(n, 1)
        self.reach_final = (where == len(options)) / max(n, 1)

    def usable(self, available: np.ndarray) -> np.ndarray:
        """Combinations that use only exits computed at the origin."""
        return np.all(np.isinf(self.thresholds[:, ~available]), axis=1)

    def accuracy(self, final_correct: np.ndarray) -> np.ndarray:
        return self.early_right + self.reach_final @ final_correct.astype(np.float64)


def _between(confidences: np.ndarray, grid: int) -> list[float]:
    """About `grid` thresholds at confidence quantiles, each moved halfway to the next lower
    observed confidence: the same samples pass, but none sits on the threshold, where the
    last-bit differences of another batch size could flip its decision at run time."""
    seen = np.unique(confidences)
    wanted = np.unique(np.quantile(confidences, np.linspace(0.0, 1.0, grid)))
    idx = np.searchsorted(seen, wanted, side="left")
    lower = np.where(idx > 0, seen[np.maximum(idx - 1, 0)], 0.0)
    return sorted({float(t) for t in (lower + seen[np.minimum(idx, len(seen) - 1)]) / 2})


def _first_cut_computing(graph: ModelGraph, value: str) -> int:
    """The smallest prefix of the op order that contains every op `value` depends on."""
    position = {op.name: i for i, op in enumerate(graph.ops)}
    return max(position[name] for name in graph.ancestors(value)) + 1
