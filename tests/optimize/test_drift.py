"""Drift monitor, hard-example buffer and incremental adaptation across the runtime's frames."""

import uuid

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError, FrameError, RemoteError
from skyline.graph import profile
from skyline.optimize.drift import DriftMonitor, HardExamples, confidences, image_features
from skyline.optimize.incremental import (
    AdaptationServer,
    IncrementalEdge,
    IncrementalTrainer,
    ModelVersion,
    RemoteAdapter,
)
from skyline.plan import planners
from skyline.runtime import EdgeWorker
from skyline.runtime.wire import decode_frame, encode_frame
from skyline.topology import Link, Node, Tier, Topology

D = 6


def clean(n, rng):
    """Features N(0, 1) and confidences around 0.85, the 'clean' regime of the streams."""
    return rng.normal(size=(n, D)), np.clip(rng.normal(0.85, 0.1, size=n), 0, 1)


@pytest.fixture(scope="module")
def monitor_args():
    return clean(5000, np.random.default_rng(0))


def run(monitor, features, confs):
    for f, c in zip(features, confs, strict=True):
        monitor.observe(f, float(c))
    return monitor.alarm


def test_monitor_quiet_on_a_clean_stream(monitor_args):
    monitor = DriftMonitor(*monitor_args, window=100, false_alarm=0.01, horizon=2000)
    assert run(monitor, *clean(2000, np.random.default_rng(1))) is None
    assert monitor.observed == 2000 and set(monitor.last) == {"confidence", "input"}


@pytest.mark.parametrize("kind", ["input", "confidence"])
def test_monitor_fires_on_a_shift_soon_after_it(monitor_args, kind):
    monitor = DriftMonitor(*monitor_args, window=100, false_alarm=0.01, horizon=2000)
    features, confs = clean(2000, np.random.default_rng(1))
    if kind == "input":
        features[1000:, :2] += 0.5  # two of six features move by half a std
    else:
        confs[1000:] -= 0.1
    alarm = run(monitor, features, confs)
    assert alarm is not None and alarm.statistic == kind
    assert 1000 < alarm.index <= 1100 and alarm.value > alarm.threshold
    assert monitor.observe(features[-1], float(confs[-1])) is None  # latched: fires once
    monitor.reset()
    assert monitor.alarm is None and monitor.observed == 0


def test_false_alarm_rate_over_a_stream_is_the_calibrated_one(monitor_args):
    monitor = DriftMonitor(*monitor_args, window=50, false_alarm=0.2, horizon=300)
    rng = np.random.default_rng(2)
    fired = 0
    for _ in range(150):
        monitor.reset()
        fired += run(monitor, *clean(300, rng)) is not None
    assert 0.12 < fired / 150 < 0.3


def test_monitor_refuses_bad_input(monitor_args):
    features, confs = monitor_args
    with pytest.raises(ConfigError, match="window"):
        DriftMonitor(features, confs, window=len(features) + 1)
    with pytest.raises(ConfigError, match="horizon"):
        DriftMonitor(features, confs, window=100, horizon=50)
    with pytest.raises(ConfigError, match="confidences"):
        DriftMonitor(features, confs[:-1])
    monitor = DriftMonitor(features, confs, window=10, horizon=100, bootstrap=100)
    with pytest.raises(ConfigError, match="calibrated on 6"):
        monitor.observe(np.zeros(3), 0.5)


def test_hard_examples_keep_the_least_confident():
    hard = HardExamples[str](3)
    for item, c in [("a", 0.9), ("b", 0.2), ("c", 0.5), ("d", 0.95), ("e", 0.1), ("f", 0.3)]:
        hard.offer(item, c)
    assert list(hard.items()) == ["e", "b", "f"] and len(hard) == 3 and hard.offered == 6
    with pytest.raises(ConfigError):
        HardExamples(0)


def test_features_and_confidences():
    x = torch.zeros(2, 1, 28, 28)
    x[1, :, :14] = 1.0
    f = image_features(x)
    assert f.shape == (2, 50) and f[0].max() == 0 and f[1, -1] > 0
    np.testing.assert_allclose(confidences(torch.tensor([[0.0, 0.0], [10.0, 0.0]])), [0.5, 1], 1e-4)
    with pytest.raises(ConfigError, match="N x C x H x W"):
        image_features(torch.zeros(28, 28))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def tiny_data(n, seed, shift=0.0):
    """Three classes told apart by brightness; `shift` moves every image (the drift)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = y.float().view(-1, 1, 1, 1) + 0.3 * torch.randn(n, 1, 8, 8, generator=g) + shift
    return TensorDataset(x, y)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return Tiny().eval()


def trainer_for(model):
    return IncrementalTrainer(model, tiny_data(64, 1), epochs=1, batch_size=32)


def test_model_version_round_trips_through_a_frame(tiny):
    version = ModelVersion.of(tiny, 3)
    back = ModelVersion.from_frame(decode_frame(encode_frame(version.to_frame(7))))
    assert back.version == 3 and back.load_into(Tiny()) is not None
    forged = ModelVersion(3, "0" * 16, back.state)
    with pytest.raises(FrameError, match="digest"):
        forged.load_into(Tiny())


def test_trainer_makes_new_versions(tiny):
    trainer = trainer_for(tiny)
    x, y = tiny_data(32, 2, shift=1.0).tensors
    first = trainer.adapt(x, y)
    second = trainer.adapt(x, y)
    assert (first.version, second.version) == (1, 2) and first.digest != second.digest
    assert ModelVersion.of(tiny, 0).digest == trainer_for(tiny).current.digest  # edge's untouched
    with pytest.raises(ConfigError, match="labels"):
        trainer.adapt(x, y[:-1])


@pytest.mark.parametrize("scheme", ["inproc", "zmq"])
def test_adaptation_over_frames(tiny, scheme):
    address = f"inproc://{uuid.uuid4().hex}" if scheme == "inproc" else "tcp://127.0.0.1:0"
    x, y = tiny_data(32, 2, shift=1.0).tensors
    with AdaptationServer(trainer_for(tiny), bind_address=address) as server:
        adapter = RemoteAdapter(server.address, timeout_s=30)
        assert adapter.identity["version"] == 0
        version = adapter.adapt(x, y)
        assert version.version == 1 and version.digest == server.trainer.current.digest
        version.load_into(Tiny())
        with pytest.raises(RemoteError, match="labels"):
            adapter.adapt(x, y[:-1])  # a bad request gets an error; the server keeps serving
        assert adapter.adapt(x, y).version == 2
        adapter.close()


def test_edge_detects_adapts_and_swaps_while_serving(tiny):
    torch.set_num_threads(1)
    ref = tiny_data(400, 3)
    ref_conf = confidences(tiny(ref.tensors[0]).detach())
    monitor = DriftMonitor(image_features(ref.tensors[0]), ref_conf, window=50, horizon=800)
    topology = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=1.0),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=100, down_mbps=100, rtt_ms=1)],
    )
    example = torch.zeros(1, 1, 8, 8)
    graph = profile(tiny, (example,), warmup=0, repeats=1)
    plan = planners.create("edge-only").plan(graph, topology)
    stream = [tiny_data(200, 4), tiny_data(600, 5, shift=1.5)]
    xs, ys = (torch.cat(t) for t in zip(*(d.tensors for d in stream), strict=True))
    with EdgeWorker(plan, tiny) as worker:
        edge = IncrementalEdge(
            worker,
            tiny,
            monitor,
            trainer_for(tiny),
            lambda keys: ys[keys],
            pool=100,
            capacity=40,
        )
        for i in range(len(xs)):
            edge.infer(xs[i : i + 1], i)
            if i == 450:
                assert edge.wait(30)
    events = [e["event"] for e in edge.events]
    assert events == ["alarm", "upload", "swap"]
    alarm, upload = edge.events[0], edge.events[1]
    assert 200 < alarm["requests"] <= 260 and upload["samples"] == 40
    assert upload["requests"] == alarm["requests"] + 99
    versions = [r.model_version for r in worker.records]
    assert len(versions) == len(xs) and versions == sorted(versions)  # none lost, monotone
    assert versions[-1] == 1 and all(r.error is None for r in worker.records)
