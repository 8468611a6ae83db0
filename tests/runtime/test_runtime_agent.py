"""The benchmark agent as a real process: trained weights from a file, real samples in order,
early exits at the origin."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from skyline import models
from skyline.errors import ConfigError
from skyline.exits import fashion_exit_net
from skyline.exits.runtime import top_probability
from skyline.graph import profile
from skyline.plan import Problem
from skyline.topology import Link, Node, Tier, Topology

SPEC = "skyline.exits:fashion_exit_net"


def test_models_load_reads_weights(tmp_path):
    trained = fashion_exit_net(seed=5)
    path = tmp_path / "w.pt"
    torch.save(trained.state_dict(), path)
    loaded = models.load(SPEC, weights=path)
    for a, b in zip(loaded.state_dict().values(), trained.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="does not exist"):
        models.load(SPEC, weights=tmp_path / "missing.pt")
    torch.save(models.create("small_cnn").state_dict(), tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="does not hold weights"):
        models.load(SPEC, weights=tmp_path / "other.pt")


def test_agent_runs_samples_in_order_with_exits(tmp_path):
    model = fashion_exit_net(seed=5).eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    graph = profile(model, (torch.zeros(1, 1, 28, 28),), name=SPEC, repeats=1)
    topo = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=1.0),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=20, down_mbps=20)],
    )
    plan = Problem(graph, topo).to_plan(np.zeros(graph.num_ops, dtype=np.int64), "local")
    plan.save(tmp_path / "plan.json")
    samples = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", samples)
    with torch.no_grad():
        logits0 = model(torch.from_numpy(samples))[0].tolist()
    conf0 = np.array([top_probability(row, 1.0) for row in logits0])
    low, mid, _ = sorted(conf0)
    threshold = (low + mid) / 2  # not on a sample: batch size may move confidences by an ulp
    exits = [{"value": graph.outputs[0], "temperature": 1.0, "threshold": threshold}]
    commands = [
        {"op": "run", "plan": plan.key, "requests": 6, "warmup": 1, "exits": exits},
        {"op": "run", "plan": plan.key, "requests": 2, "exits": [{"bad": 1}]},
        {"op": "quit"},
    ]
    agent = [sys.executable, "-m", "skyline.runtime.agent", "--plans", str(tmp_path / "plan.json")]
    options = ["--weights", str(tmp_path / "w.pt"), "--inputs", str(tmp_path / "x.npy")]
    done = subprocess.run(
        [*agent, *options],
        input="".join(json.dumps(c) + "\n" for c in commands),
        capture_output=True,
        text=True,
        timeout=120,
    )
    ready, run, bad = (json.loads(line) for line in done.stdout.splitlines())
    assert ready["ready"]
    outcomes = [r["outcome"] for r in run["records"]]
    # request i is sample i % 3: it exits exactly when its exit-0 confidence reaches threshold
    assert outcomes == ["exit" if conf0[i % 3] >= threshold else "local" for i in range(6)]
    assert "error" in bad
