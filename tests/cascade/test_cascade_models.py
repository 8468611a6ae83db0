"""The cascade's edge and cloud CNNs: shapes, seeding, capture, and the compute gap between them."""

from __future__ import annotations

import torch

from skyline import cascade
from skyline.graph import profile


def test_edge_and_cloud_models_classify_28x28_images_and_are_capturable() -> None:
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    flops = {}
    for name, factory in (("edge", cascade.edge_cnn), ("cloud", cascade.cloud_cnn)):
        model = factory(seed=1).eval()
        assert model(x).shape == (2, 10)
        again = factory(seed=1).eval()
        assert torch.equal(model(x), again(x))
        flops[name] = profile(model, (x[:1],), warmup=0, repeats=1).total_flops
    assert flops["cloud"] > 20 * flops["edge"]  # the cloud is the expensive, accurate tier
