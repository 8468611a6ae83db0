"""profile(): FLOPs, bytes and times per op; capture errors; graph serialization."""

import math

import pytest
import torch
from torch import nn

from skyline.errors import ConfigError, ModelCaptureError
from skyline.graph import ModelGraph, profile, random_dag


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))).flatten()


def test_profile_counts_flops_bytes_and_params():
    model = TwoLayer().double()
    g = profile(model, (torch.randn(5, 16, dtype=torch.float64),), repeats=3)
    assert g.method == "export"
    by_kind = {op.kind: op for op in g.ops}
    fc1 = g.ops[0]
    # linear: 2 FLOPs per multiply-accumulate = 2 * batch * in * out (bias adds not counted)
    assert fc1.flops == 2 * 5 * 16 * 32
    assert fc1.out_bytes == 5 * 32 * 8  # float64
    assert fc1.param_bytes == (16 * 32 + 32) * 8
    assert by_kind["relu"].flops == 5 * 32  # one per output element
    assert by_kind["flatten"].flops == 0  # a view
    assert all(op.host_time_s > 0 for op in g.ops)
    assert g.inputs[0].nbytes == 5 * 16 * 8 and g.inputs[0].dtype == "float64"
    assert g.memory_bytes(range(g.num_ops)) == sum(p.numel() * 8 for p in model.parameters())


def test_graph_round_trips_through_json():
    g = profile(TwoLayer(), (torch.randn(2, 16),), repeats=1)
    again = ModelGraph.from_dict(g.to_dict())
    assert again == g and again.fingerprint == g.fingerprint


def test_tuple_outputs_cannot_cross():
    class Chunky(nn.Module):
        def forward(self, x):
            a, b = x.chunk(2, dim=1)
            return a * b

    g = profile(Chunky(), (torch.randn(2, 8),), repeats=1)
    assert any(math.isinf(op.out_bytes) for op in g.ops)
    assert ModelGraph.from_dict(g.to_dict()) == g  # inf survives JSON


def test_data_dependent_control_flow_is_a_clear_error():
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x - 1

    with pytest.raises(ModelCaptureError) as err:
        profile(Branchy(), (torch.randn(3),))
    text = str(err.value)
    assert "torch.export" in text and "torch.fx" in text and "Fix:" in text


def test_fx_fallback_when_export_rejects():
    class Unexportable(nn.Module):
        def forward(self, x):
            # export traces with fake tensors, which have no numpy data; fx sees a Proxy
            return torch.from_numpy(x.numpy()) + 1 if not isinstance(x, torch.fx.Proxy) else x + 1

    g = profile(Unexportable(), (torch.randn(3),), repeats=1)
    assert g.method == "fx" and g.num_ops >= 1


def test_wrong_inputs_name_the_failing_op():
    with pytest.raises(ModelCaptureError) as err:
        profile(TwoLayer(), (torch.randn(2, 7),))
    assert "Fix:" in str(err.value)


def test_not_a_module():
    with pytest.raises(ModelCaptureError, match=r"nn\.Module"):
        profile(lambda x: x, (torch.randn(2),))


def test_bad_profile_arguments():
    with pytest.raises(ConfigError, match="repeats"):
        profile(TwoLayer(), (torch.randn(2, 16),), repeats=0)


def test_random_dag_is_valid_and_deterministic():
    a, b = random_dag(50, seed=3), random_dag(50, seed=3)
    assert a == b and a.num_ops == 50 and a.outputs
    with pytest.raises(ConfigError):
        ModelGraph("bad", [], [a.ops[1]], [])
