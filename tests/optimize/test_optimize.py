"""Quantization on ONNX Runtime and pruning, on small models with hand-checkable effects."""

import numpy as np
import pytest
import torch
from torch import nn

from skyline.errors import ConfigError
from skyline.exits import fashion_exit_net
from skyline.optimize import (
    OrtModel,
    output_layers,
    parameter_count,
    prune_channels,
    prune_magnitude,
    quantize_int8,
)

pytest.importorskip("onnxruntime", reason="needs the optimize extra")


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(64 * 16, 10),
    ).eval()


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    torch.set_num_threads(1)
    model = cnn()
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    calib = [
        torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(s)) for s in range(8)
    ]
    fp32, int8 = quantize_int8(model, [x], calib, tmp_path_factory.mktemp("q"))
    return model, x, fp32, int8


def test_fp32_session_equals_torch(quantized):
    model, x, fp32, _ = quantized
    with torch.no_grad():
        ref = model(x)
    assert torch.allclose(fp32(x), ref, atol=1e-4, rtol=1e-4)


def test_int8_is_close_and_four_times_smaller(quantized):
    model, x, fp32, int8 = quantized
    with torch.no_grad():
        ref = model(x)
    out = int8(x)
    assert out.shape == ref.shape
    # 8-bit weights and activations: a few percent of the output's scale, not exact
    assert float((out - ref).norm() / ref.norm()) < 0.1
    assert fp32.size_bytes / int8.size_bytes > 3.0


def test_calibration_shape_and_input_count_are_checked(quantized, tmp_path):
    model, x, fp32, _ = quantized
    with pytest.raises(ConfigError, match="calibration batch shapes"):
        quantize_int8(model, [x], [torch.zeros(2, 1, 28, 28)], tmp_path)
    with pytest.raises(ConfigError, match="takes 1 inputs"):
        fp32(x, x)
    with pytest.raises(ConfigError, match="does not exist"):
        OrtModel(tmp_path / "none.onnx")


def test_structured_pruning_halves_channels_and_keeps_outputs():
    model = cnn()
    x = torch.randn(2, 1, 28, 28)
    before = parameter_count(model)
    prune_channels(model, [x], 0.5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32]
    assert model(x).shape == (2, 10)  # the classifier keeps its 10 outputs
    assert parameter_count(model) < 0.55 * before


def test_output_layers_finds_every_exit_head():
    net = fashion_exit_net()
    heads = output_layers(net, [torch.zeros(1, 1, 28, 28)])
    assert len(heads) == 3 and all(h.out_features == 10 for h in heads)


def test_magnitude_pruning_reaches_the_asked_sparsity():
    model = cnn()
    achieved = prune_magnitude(model, 0.7)
    assert achieved == pytest.approx(0.7, abs=1e-3)
    weights = np.concatenate(
        [m.weight.detach().numpy().ravel() for m in model.modules() if hasattr(m, "weight")]
    )
    assert (weights == 0).mean() > 0.5
    with pytest.raises(ConfigError, match="ratio"):
        prune_magnitude(model, 1.5)
