"""One real Flower simulation on the Ray backend (127.0.0.1, private temp dir, telemetry off):
hierarchical FL with 4 clients behind 2 edges for 2 cloud rounds."""

from skyline.fl import FLConfig, Task, run
from skyline.fl.task import build_model, get_weights


def test_hierarchical_fl_on_flowers_ray_simulation() -> None:
    task = Task(dataset="digits", clients=4, lr=0.1)
    config = FLConfig(task=task, mode="hier", edges=2, rounds=2, edge_rounds=2)
    seen = []
    result = run(config, on_round=seen.append, cpus=2)
    model_bytes = sum(w.nbytes for w in get_weights(build_model(task)))
    assert [r.round for r in result.history] == [1, 2] and seen == result.history
    last = result.history[-1]
    assert last.failures == 0 and last.replies == 2 * 4
    assert last.edge_cloud_bytes == 2 * 2 * 2 * model_bytes
    assert last.device_edge_bytes == 2 * 2 * 2 * 4 * model_bytes
    assert last.accuracy > 0.5  # 10 classes: chance is 0.1
