"""Low-rank factorization and distillation on cases with known answers."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError
from skyline.optimize import choose_rank, distill, low_rank, parameter_count, teacher_logits


def test_choose_rank_counts_energy():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])  # energies 9, 4, 1 of 14
    assert choose_rank(s, 9 / 14) == 1
    assert choose_rank(s, 0.93) == 3  # 13/14 = 0.929 < 0.93 -> needs the third
    assert choose_rank(s, 0.9) == 2
    assert choose_rank(s, 1.0) == 3


def test_a_rank_two_linear_is_factored_exactly():
    torch.manual_seed(0)
    layer = nn.Linear(64, 48)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(48, 2) @ torch.randn(2, 64))
    model = nn.Sequential(layer, nn.ReLU())
    x = torch.randn(5, 64)
    ref = model(x)
    (done,) = low_rank(model, energy=0.999999)
    assert done.rank == 2 and done.shape == (48, 64)
    assert parameter_count(model) == 2 * (64 + 48) + 48
    assert torch.allclose(model(x), ref, atol=1e-4)


def test_conv_factorization_keeps_the_function_at_full_energy():
    torch.manual_seed(1)
    conv = nn.Conv2d(16, 64, 3, padding=1)
    with torch.no_grad():  # rank 4 as a 64 x 144 matrix
        conv.weight.copy_((torch.randn(64, 4) @ torch.randn(4, 144)).reshape(64, 16, 3, 3))
    model = nn.Sequential(conv)
    x = torch.randn(2, 16, 8, 8)
    ref = model(x)
    (done,) = low_rank(model, energy=0.999999)
    assert done.rank == 4
    assert torch.allclose(model(x), ref, atol=1e-3)


def test_layers_that_would_not_shrink_are_left_alone():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 8))  # full rank: r (m + n) >= m n
    assert low_rank(model, energy=0.99) == []
    with pytest.raises(ConfigError, match="energy"):
        low_rank(model, energy=0)


def _toy(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TensorDataset(x, y)


def test_alpha_zero_is_plain_training():
    data = _toy()
    teacher = nn.Linear(10, 2)
    soft = teacher_logits(teacher, data.tensors[0])
    a, b = nn.Linear(10, 2), nn.Linear(10, 2)
    b.load_state_dict(a.state_dict())
    la = distill(a, data, soft, epochs=2, alpha=0.0, seed=3)
    lb = distill(b, data, None, epochs=2, seed=3)
    assert la == pytest.approx(lb)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_pure_distillation_pulls_the_student_to_the_teacher():
    data = _toy()
    torch.manual_seed(4)
    teacher = nn.Linear(10, 2)
    soft = teacher_logits(teacher, data.tensors[0])
    student = nn.Linear(10, 2)

    def agreement():
        with torch.no_grad():
            return float((student(data.tensors[0]).argmax(1) == soft.argmax(1)).float().mean())

    before = agreement()
    losses = distill(student, data, soft, epochs=30, alpha=1.0, lr=0.05, seed=0)
    assert losses[-1] < losses[0] and agreement() > max(before, 0.95)
    with pytest.raises(ConfigError, match="teacher rows"):
        distill(student, data, soft[:10], epochs=1)


def test_pareto_front_by_hand():
    from skyline.optimize import pareto_front

    points = [
        {"ms": 10, "acc": 0.90},  # front
        {"ms": 5, "acc": 0.85},  # front
        {"ms": 12, "acc": 0.89},  # dominated by the first
        {"ms": 5, "acc": 0.85},  # equal to the second: neither dominates
        {"ms": 20, "acc": 0.95},  # front
    ]
    assert pareto_front(points, minimize=["ms"], maximize=["acc"]) == [0, 1, 3, 4]
    with pytest.raises(ConfigError, match="lack"):
        pareto_front([{"ms": 1}], minimize=["ms"], maximize=["acc"])
