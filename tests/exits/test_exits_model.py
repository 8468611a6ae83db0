"""EarlyExitNet: exits, prefixes, torch.export capture, joint training on real Fashion-MNIST."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from skyline.data import fashion_mnist
from skyline.data.fashion_mnist import DEFAULT_ROOT
from skyline.errors import ConfigError
from skyline.exits import (
    EarlyExitNet,
    evaluate,
    fashion_exit_net,
    predict_logits,
    train_joint,
)
from skyline.graph.capture import capture


class Counting(nn.Module):
    """Adds `step` and counts calls, so a test sees which blocks ran."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return x + self.step


def _toy() -> tuple[EarlyExitNet, list[Counting]]:
    blocks = [Counting(1.0), Counting(10.0), Counting(100.0)]
    heads = {0: nn.Identity(), 2: nn.Flatten()}
    return EarlyExitNet(blocks, heads), blocks


def test_generic_net_returns_every_exit_and_stops_early() -> None:
    net, blocks = _toy()
    x = torch.zeros(2, 3)
    outs = net(x)
    assert net.num_exits == 2 and net.exit_blocks == (0, 2)
    assert torch.equal(outs[0], x + 1) and torch.equal(outs[1], x + 111)
    first = net.forward_until(x, 0)
    assert len(first) == 1 and torch.equal(first[0], x + 1)
    assert [b.calls for b in blocks] == [2, 1, 1]  # block 1 and 2 did not run for exit 0


@pytest.mark.parametrize(
    ("blocks", "heads", "says"),
    [
        ([], {}, "at least one block"),
        ([nn.Identity()], {0: nn.Identity(), 1: nn.Identity()}, r"heads \[1\]"),
        ([nn.Identity(), nn.Identity()], {0: nn.Identity()}, "the last"),
    ],
)
def test_bad_construction_is_refused(
    blocks: list[nn.Module], heads: dict[int, nn.Module], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        EarlyExitNet(blocks, heads)


@pytest.mark.parametrize("index", [-1, 2])
def test_unknown_exit_index_is_refused(index: int) -> None:
    net, _ = _toy()
    with pytest.raises(ConfigError, match=f"exit {index} does not exist"):
        net.forward_until(torch.zeros(1, 1), index)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        net.prefix(index)


def test_fashion_net_prefixes_match_forward_and_export() -> None:
    net = fashion_exit_net(seed=1).eval()
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    full = net(x)
    assert [tuple(o.shape) for o in full] == [(3, 10)] * 3
    for k in range(net.num_exits):
        prefix = net.prefix(k)
        eager = prefix(x)
        assert len(eager) == k + 1
        for a, b in zip(eager, full):
            assert torch.allclose(a, b, atol=1e-6)
        exported = torch.export.export(prefix, (x,)).module()(x)
        for a, b in zip(exported, eager):
            assert torch.allclose(a, b, atol=1e-5)
        assert capture(prefix, (x,)).method == "export"  # what skyline.profile() uses


def test_same_seed_same_weights_and_global_rng_untouched() -> None:
    state = torch.random.get_rng_state()
    a, b = fashion_exit_net(seed=3), fashion_exit_net(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def _toy_data(n: int = 64) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(
        torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    )


def test_zero_loss_weight_leaves_that_head_untouched() -> None:
    net = fashion_exit_net(seed=0)
    final = [p.clone() for p in net.heads["3"].parameters()]
    early = [p.clone() for p in net.heads["0"].parameters()]
    train_joint(net, _toy_data(), epochs=1, weights=(1.0, 1.0, 0.0), batch_size=32)
    assert all(torch.equal(p, q) for p, q in zip(net.heads["3"].parameters(), final))
    assert not all(torch.equal(p, q) for p, q in zip(net.heads["0"].parameters(), early))
    assert not net.training


def test_training_repeats_with_the_same_seed() -> None:
    runs = []
    for _ in range(2):
        net = fashion_exit_net(seed=0)
        losses = train_joint(net, _toy_data(), epochs=2, batch_size=16, seed=5)
        runs.append((losses, net.state_dict()))
    assert runs[0][0] == runs[1][0] and len(runs[0][0]) == 2
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"weights": (1.0, 1.0)}, "2 loss weights for a model with 3 exits"),
        ({"epochs": 0}, "epochs=0"),
    ],
)
def test_bad_training_arguments(kwargs: dict[str, object], says: str) -> None:
    args: dict[str, object] = {"epochs": 1} | kwargs
    with pytest.raises(ConfigError, match=says):
        train_joint(fashion_exit_net(), _toy_data(8), **args)  # type: ignore[arg-type]


def test_single_output_models_are_one_exit_models() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    losses = train_joint(model, _toy_data(), epochs=1, batch_size=32)
    assert len(losses) == 1
    assert len(evaluate(model, _toy_data())) == 1
    assert predict_logits(model, _toy_data(10), batch_size=3)[0].shape == (10, 10)


@pytest.mark.skipif(
    not (DEFAULT_ROOT / "train-images-idx3-ubyte.gz").is_file(),
    reason="apt-get install dataset-fashion-mnist",
)
def test_one_epoch_on_real_fashion_mnist_learns_every_exit() -> None:
    net = fashion_exit_net(seed=0)
    train_ds = fashion_mnist("train", limit=2000)
    losses = train_joint(net, train_ds, epochs=1, batch_size=32, lr=3e-3, seed=0)
    assert losses[0] < 3 * 2.0  # three exits, each below ln(10) = 2.30 on average
    accuracy = evaluate(net, fashion_mnist("test", limit=500))
    assert len(accuracy) == 3
    assert all(a > 0.5 for a in accuracy), accuracy  # chance is 0.1
