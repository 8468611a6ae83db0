"""SecAgg+ (Flower's workflow) on the in-process Grid: the cloud gets the same model as a plain
unweighted mean, up to SecAgg+'s quantization, and the protocol's bytes are metered."""

from dataclasses import replace

import numpy as np
import pytest
from flower_fakes import LocalGrid
from flwr.app import Context, RecordDict

from skyline.errors import ConfigError
from skyline.fl import FLConfig, Task
from skyline.fl.client import local_update
from skyline.fl.secure import SecAggFL
from skyline.fl.task import build_model, get_weights

TASK = Task(dataset="digits", clients=4, lr=0.1)
CONFIG = FLConfig(task=TASK, mode="flat", edges=2, rounds=1)


def test_secure_aggregate_equals_the_plain_mean() -> None:
    secagg = SecAggFL(CONFIG, num_shares=3, reconstruction_threshold=2)
    grid = LocalGrid(secagg.client_app(), TASK.clients)
    secagg.main(grid, Context(1, 0, {}, RecordDict(), {}))
    assert len(secagg.history) == 1
    start = get_weights(build_model(TASK))
    spec = CONFIG.client_spec()
    models = []
    for cid in range(TASK.clients):
        delta, _ = local_update(spec, cid, start, {"server-round": 1}, RecordDict())
        models.append([w + d for w, d in zip(start, delta)])
    mean = [np.mean([m[i] for m in models], axis=0) for i in range(len(start))]
    secure_model = build_model(TASK)
    got = secagg._model.state_dict()
    for want, key in zip(mean, secure_model.state_dict()):
        np.testing.assert_allclose(got[key].numpy(), want, atol=1e-4)
    plain_bytes = 2 * TASK.clients * sum(w.nbytes for w in start)
    assert secagg.wire_bytes > plain_bytes  # masks, key shares and quantized ints cost extra


def test_secagg_refuses_what_it_cannot_compose_with() -> None:
    with pytest.raises(ConfigError, match="up_codec"):
        SecAggFL(replace(CONFIG, up_codec="int8"))
    with pytest.raises(ConfigError, match="mode"):
        SecAggFL(replace(CONFIG, mode="hier"))
    with pytest.raises(ConfigError, match="reconstruction_threshold=3"):
        SecAggFL(CONFIG, num_shares=3, reconstruction_threshold=3)


def test_a_halted_secure_round_is_an_error_not_a_silent_skip() -> None:
    from skyline.fl import Dropout

    dropping = replace(CONFIG, dropout=Dropout(rate=0.9, seed=0))
    secagg = SecAggFL(dropping, num_shares=3, reconstruction_threshold=2)
    grid = LocalGrid(secagg.client_app(), TASK.clients)
    with pytest.raises(ConfigError, match="halted"):
        secagg.main(grid, Context(1, 0, {}, RecordDict(), {}))
