"""Quantization-aware training on a real task (sklearn digits): it runs, and its int8 accuracy
is not below post-training int8 by more than test-set noise."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from skyline.errors import ConfigError

pytest.importorskip("torchao", reason="needs the optimize extra")
pytest.importorskip("sklearn", reason="the digits dataset ships with scikit-learn")

from skyline.data import digits
from skyline.optimize.pt2e import quantize_pt2e
from skyline.optimize.qat import quantize_aware

TRAIN = 1400  # of 1,797 digits; the other 397 are the test set


def tiny_cnn() -> nn.Module:
    """No BatchNorm: torchao's QAT conversion traces its conv-bn fold patterns (~30 s here)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 10),
    )


def batches(x: torch.Tensor, y: torch.Tensor, size: int = 64) -> list:
    return list(zip(x.split(size), y.split(size)))


def accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def trained():
    x, y = digits().tensors
    model = tiny_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(4):
        for xb, yb in batches(x[:TRAIN], y[:TRAIN]):
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval(), x, y


def test_qat_int8_is_no_worse_than_ptq(trained):
    model, x, y = trained
    test_x, test_y = x[TRAIN:], y[TRAIN:]
    fp32 = accuracy(model, test_x, test_y)
    ptq = quantize_pt2e(model, [x[:1]], x[:256].split(32), compile=False)
    ptq_acc = accuracy(ptq, test_x, test_y)
    losses = []
    before = {k: v.clone() for k, v in model.state_dict().items()}
    qat = quantize_aware(
        model,
        [x[:1]],
        batches(x[:TRAIN], y[:TRAIN]),
        epochs=2,
        lr=1e-4,
        compile=False,
        progress=lambda epoch, loss: losses.append((epoch, loss)),
    )
    qat_acc = accuracy(qat, test_x, test_y)
    assert not model.training  # QAT traced it in train mode, then gave its mode back
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # a copy trained
    assert fp32 > 0.85  # the task was learned, so the comparison means something
    # 397 test images: one standard error of an accuracy near 0.9 is ~1.5 points
    assert qat_acc >= ptq_acc - 0.03
    assert [e for e, _ in losses] == [0, 1]
    assert qat.size_bytes < sum(p.numel() * 4 for p in model.parameters())


def test_qat_rejects_bad_arguments(trained):
    model, x, y = trained
    with pytest.raises(ConfigError, match="epochs"):
        quantize_aware(model, [x[:1]], batches(x[:64], y[:64]), epochs=0)
    with pytest.raises(ConfigError, match="no batch"):
        quantize_aware(model, [x[:1]], [], epochs=1, compile=False)
