"""The orchestrator over the in-process fake Grid (tests/fl/conftest.py): exact FedAvg, byte
accounting per tier, dropout, Byzantine clients, DP accounting across rounds."""

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pytest
from flower_fakes import LocalGrid
from flwr.app import Message, RecordDict

from skyline.errors import ConfigError
from skyline.fl import DPSGD, Dropout, FLConfig, ServerDP, Task, client_app
from skyline.fl.client import ROUND_KEY, local_update
from skyline.fl.task import build_model, client_data, get_weights

TASK = Task(dataset="digits", clients=4, lr=0.1)
BASE = FLConfig(task=TASK, mode="flat", edges=2, rounds=1)
MODEL_BYTES = sum(w.nbytes for w in get_weights(build_model(TASK)))


def execute(config: FLConfig) -> tuple[list[np.ndarray], object, LocalGrid]:
    orch = config.orchestrator()
    grid = LocalGrid(client_app(config.client_spec()), config.task.clients)
    return orch.run(grid, config.rounds), orch, grid


def test_flat_fedavg_round_equals_the_hand_computed_weighted_mean() -> None:
    final, _, _ = execute(BASE)
    start = get_weights(build_model(TASK))
    spec = BASE.client_spec()
    total = [np.zeros_like(w, dtype=np.float64) for w in start]
    n_all = 0
    for cid in range(TASK.clients):
        delta, metrics = local_update(spec, cid, start, {ROUND_KEY: 1}, RecordDict())
        n = len(client_data(TASK, cid))
        assert metrics["num-examples"] == n
        total = [t + n * (w + d) for t, w, d in zip(total, start, delta)]
        n_all += n
    for got, want in zip(final, total):
        np.testing.assert_allclose(got, want / n_all, rtol=1e-5, atol=1e-6)


def test_bytes_per_tier_flat_vs_hierarchical() -> None:
    _, flat, _ = execute(replace(BASE, rounds=2))
    last = flat.history[-1]
    # every device's model goes down and its update up, crossing both links
    assert last.edge_cloud_bytes == last.device_edge_bytes == 2 * 2 * 4 * MODEL_BYTES
    _, hier, grid = execute(replace(BASE, mode="hier", rounds=2, edge_rounds=3))
    last = hier.history[-1]
    assert last.device_edge_bytes == 2 * 3 * 2 * 4 * MODEL_BYTES
    assert last.edge_cloud_bytes == 2 * 2 * 2 * MODEL_BYTES  # 2 edges, down + up, 2 rounds
    assert grid.sent == 4 + 2 * 3 * 4  # discovery + training messages
    assert hier.history[-1].accuracy > 0.5


def test_compression_cuts_the_bytes() -> None:
    _, plain, _ = execute(BASE)
    _, packed, _ = execute(replace(BASE, up_codec="int8", down_codec="int8"))
    ratio = plain.history[-1].device_edge_bytes / packed.history[-1].device_edge_bytes
    assert ratio == pytest.approx(4, rel=0.02)


def test_dropped_clients_fail_and_rounds_complete() -> None:
    dropout = Dropout(rate=0.5, seed=3)
    _, orch, _ = execute(replace(BASE, rounds=3, dropout=dropout))
    assert len(orch.history) == 3
    for r in orch.history:
        expected = sum(dropout.dropped(r.round, c) for c in range(TASK.clients))
        assert r.failures == expected and r.replies == TASK.clients - expected


def test_trimmed_mean_resists_a_scaling_attacker() -> None:
    clean, _, _ = execute(replace(BASE, rounds=2))
    attacked = replace(BASE, rounds=2, byzantine=0.25, attack="scaled:50")
    assert len(attacked.byzantine_clients()) == 1
    poisoned, _, _ = execute(attacked)
    robust, _, _ = execute(replace(attacked, strategy="trimmedavg", malicious=1))

    def dist(a: list[np.ndarray]) -> float:
        return float(sum(np.abs(x - y).sum() for x, y in zip(a, clean)))

    assert dist(robust) < dist(poisoned) / 5


def test_client_dp_epsilon_grows_round_by_round() -> None:
    _, orch, _ = execute(replace(BASE, rounds=3, dp=DPSGD(noise_multiplier=1.0)))
    eps = [r.epsilon for r in orch.history]
    assert all(e is not None and e > 0 for e in eps)
    assert eps[0] < eps[1] < eps[2]  # accountant history carried in context.state


def test_server_dp_reports_flowers_accountant() -> None:
    _, orch, _ = execute(replace(BASE, rounds=2, server_dp=ServerDP(noise_multiplier=1.0)))
    eps = [r.epsilon for r in orch.history]
    assert eps[0] is not None and eps[1] is not None and eps[0] < eps[1]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"strategy": "bulyan", "malicious": 1}, "at least 7"),
        ({"mode": "hier", "cloud_strategy": "krum", "malicious": 1}, "cloud_strategy"),
        ({"edges": 9}, "edges=9"),
        ({"byzantine": 1.5}, "byzantine"),
        ({"strategy": "fedmedian", "server_dp": ServerDP()}, "FedAvg"),
    ],
)
def test_bad_configs_fail_before_training(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        replace(BASE, **changes).orchestrator()  # type: ignore[arg-type]


class ReversedGrid(LocalGrid):
    """Replies in the opposite order, as Flower's Ray simulation may return them."""

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        return list(super().send_and_receive(messages, timeout=timeout))[::-1]


def test_aggregate_is_bit_identical_whatever_the_reply_order() -> None:
    config = replace(BASE, rounds=2)
    in_order, _, _ = execute(config)
    grid = ReversedGrid(client_app(config.client_spec()), TASK.clients)
    reversed_order = config.orchestrator().run(grid, config.rounds)
    assert all(np.array_equal(a, b) for a, b in zip(in_order, reversed_order, strict=True))


def test_label_flip_stays_within_a_binary_task() -> None:
    # a label-flipping client on 2-class data must train (flipped labels 0/1, not 8/9)
    task = Task(dataset="breast_cancer", clients=4, lr=0.1)
    config = FLConfig(task=task, mode="flat", edges=2, rounds=1, attack="label_flip")
    spec = replace(config.client_spec(), byzantine=frozenset(range(task.clients)))
    start = get_weights(build_model(task))
    delta, metrics = local_update(spec, 0, start, {ROUND_KEY: 1}, RecordDict())
    assert metrics["num-examples"] == len(client_data(task, 0))
    assert all(np.isfinite(d).all() for d in delta)
