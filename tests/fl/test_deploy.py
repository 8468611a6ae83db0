"""Hierarchical FL as real processes on Flower's deployment runtime (SuperLinks, SuperNodes,
`flwr run`, loopback only) gives the same rounds as the orchestrator on the in-process Grid."""

from pathlib import Path

import pytest
from flower_fakes import LocalGrid

from skyline.errors import ConfigError
from skyline.fl import FLConfig, Task, client_app
from skyline.fl.deploy import deploy

CONFIG = FLConfig(
    task=Task(dataset="digits", clients=4, lr=0.1), mode="hier", edges=2, rounds=1, edge_rounds=2
)


def test_deployed_hierarchy_matches_the_in_process_run(tmp_path: Path) -> None:
    result = deploy(CONFIG, workdir=tmp_path, timeout_s=600)
    orch = CONFIG.orchestrator()
    orch.run(LocalGrid(client_app(CONFIG.client_spec()), 4), CONFIG.rounds)
    (deployed,), (local,) = result.history, orch.history
    assert deployed.failures == 0 and deployed.replies == 2
    assert deployed.accuracy == pytest.approx(local.accuracy, abs=1e-9)
    assert deployed.loss == pytest.approx(local.loss, rel=1e-5)
    assert deployed.edge_cloud_bytes == local.edge_cloud_bytes
    assert deployed.device_edge_bytes == local.device_edge_bytes
    assert (tmp_path / "cloud-run.log").exists()  # every process kept its log


def test_deploy_runs_the_hierarchy_only() -> None:
    from dataclasses import replace

    with pytest.raises(ConfigError, match="mode='hier'"):
        deploy(replace(CONFIG, mode="flat", edge_rounds=1))
