"""PT2E int8 (torchao + X86InductorQuantizer): numerics of the eager reference, one tiny
compiled model against it, and the errors a user can hit."""

import sys

import pytest
import torch
from torch import nn

from skyline.errors import ConfigError

pytest.importorskip("torchao", reason="needs the optimize extra")

from skyline.optimize import pt2e


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 16, 10),
    ).eval()


def data(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 1, 12, 12, generator=torch.Generator().manual_seed(seed))


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def reference():
    model = tiny()
    return model, pt2e.quantize_pt2e(model, [data(1, 0)], data(64, 1).split(8), compile=False)


def test_reference_is_close_to_fp32_and_smaller(reference):
    model, int8 = reference
    x = data(16, 2)
    with torch.no_grad():
        expected = model(x)
    assert rel_error(int8(x), expected) < 0.1
    assert not int8(x).requires_grad
    weights = 8 * 9 + 10 * 8 * 16  # conv and linear weights: one byte each in int8
    assert weights <= int8.size_bytes < pt2e.state_bytes(model)


def test_compiled_matches_reference(reference):
    _, int8 = reference
    compiled = pt2e.Pt2eModel(int8.reference, compiled=True)
    import torch._inductor.config as inductor_config

    assert inductor_config.freezing  # the int8 kernels need it (see the module docstring)
    x = data(1, 3)
    assert rel_error(compiled(x), int8(x)) < 0.05


def test_state_bytes_counts_shared_storage_once():
    layer = nn.Linear(4, 4, bias=False)
    tied = nn.Sequential(layer, layer)
    assert pt2e.state_bytes(tied) == 4 * 4 * 4


def test_no_calibration_is_refused():
    with pytest.raises(ConfigError, match="calibration"):
        pt2e.quantize_pt2e(tiny(), [data(1, 0)], [], compile=False)


class Branchy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x  # data-dependent: torch.export cannot capture it


def test_unexportable_model_names_the_way_out():
    with pytest.raises(ConfigError, match="quantize_int8"):
        pt2e.quantize_pt2e(Branchy(), [data(1, 0)], [data(1, 1)], compile=False)


def test_missing_torchao_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao.quantization.pt2e", None)
    with pytest.raises(ConfigError, match=r"skyline\[optimize\]"):
        pt2e.quantize_pt2e(tiny(), [data(1, 0)], [data(1, 1)])
