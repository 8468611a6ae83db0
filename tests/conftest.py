"""Shared fixtures: one torch thread (tests time nothing, but stay light on 2 cores)."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def det_topology():
    from skyline.topology import topology_preset

    return topology_preset("device-edge-cloud")
