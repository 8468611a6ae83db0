"""NAS: search space, latency predictor, hypervolume and both samplers, on small cases."""

import json
import random
from dataclasses import replace

import pytest
import torch

from skyline.errors import ConfigError, SkylineError
from skyline.optimize.nas import (
    Candidate,
    MemoryLimit,
    dominating,
    front,
    front_hypervolume,
    hypervolume_2d,
    search,
)
from skyline.optimize.nas_latency import (
    FEATURES,
    LatencyPredictor,
    features,
    measure_latency_ms,
    measure_parts_ms,
    median_ape,
)
from skyline.optimize.nas_lut import LookupTablePredictor
from skyline.optimize.nas_space import Arch, SearchSpace, Stage, build

SPACE = SearchSpace()


def archs(n: int, seed: int = 0) -> list[Arch]:
    rng = random.Random(seed)
    return [SPACE.sample(rng) for _ in range(n)]


def test_arch_json_round_trip():
    for arch in [SPACE.baseline(), SPACE.largest(), *archs(20)]:
        assert Arch.from_json(arch.to_json()) == arch
        assert Arch.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    assert SearchSpace.from_dict(json.loads(json.dumps(SPACE.to_dict()))) == SPACE


def test_every_sampled_arch_builds_with_the_right_output_and_parameter_count():
    torch.manual_seed(0)
    for arch in [SPACE.baseline(), SPACE.largest(), *archs(12)]:
        model = build(arch, SPACE).eval()
        with torch.no_grad():
            assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
        assert sum(p.numel() for p in model.parameters()) == SPACE.param_count(arch)


def test_other_input_shapes_build():
    space = SearchSpace(
        input_shape=(3, 32, 40), num_classes=7, base_channels=(8, 16), strides=(2, 2)
    )
    arch = space.sample(random.Random(1))
    with torch.no_grad():
        assert build(arch, space).eval()(torch.randn(1, 3, 32, 40)).shape == (1, 7)


@pytest.mark.parametrize(
    ("field", "value"), [("kernel", 4), ("width", 0.3), ("depth", 0), ("expansion", 5)]
)
def test_bad_arch_value_names_field_value_and_fix(field, value):
    stages = list(SPACE.baseline().stages)
    stages[2] = replace(stages[2], **{field: value})
    with pytest.raises(SkylineError) as err:
        build(Arch(tuple(stages)), SPACE)
    assert isinstance(err.value, ConfigError)
    msg = str(err.value)
    assert f"stages[2].{field} = {value}" in msg and "Fix: choose" in msg


def test_bad_arch_dicts_are_refused():
    good = SPACE.baseline().to_dict()
    with pytest.raises(ConfigError, match="schema"):
        Arch.from_dict({**good, "schema": "nope"})
    with pytest.raises(ConfigError, match=r"stages\[0\].kernel = '3'"):
        Arch.from_dict({**good, "stages": [{**good["stages"][0], "kernel": "3"}]})
    with pytest.raises(ConfigError, match="3 stages, the space has 4"):
        SPACE.check(Arch(SPACE.baseline().stages[:3]))


def test_predictor_recovers_a_known_linear_law_and_round_trips(tmp_path):
    law = dict.fromkeys(FEATURES, 0.0) | {"constant": 0.2, "convs": 0.03, "depthwise_mmacs": 0.5}
    sample = archs(40)
    measured = [sum(law[f] * v for f, v in features(a, SPACE).items()) for a in sample]
    pred = LatencyPredictor.fit("fake", SPACE, sample, measured)
    assert pred.coef == pytest.approx(law, abs=1e-6)
    held = archs(10, seed=1)
    truth = [sum(law[f] * v for f, v in features(a, SPACE).items()) for a in held]
    assert median_ape([pred.predict_ms(a) for a in held], truth) < 1e-6
    loaded = LatencyPredictor.load(pred.save(tmp_path / "p.json"))
    assert loaded == pred


def test_the_block_table_covers_every_arch():
    table = set(SPACE.blocks())
    assert len(table) == len(SPACE.blocks())  # no duplicates
    for arch in [SPACE.baseline(), SPACE.largest(), *archs(300, seed=3)]:
        assert set(SPACE.layout(arch)) <= table
    small = SearchSpace(widths=(1.0,), depths=(1,), kernels=(3,), expansions=(1,))
    assert set(small.blocks()) == set(small.layout(small.baseline()))


def test_lookup_table_sums_blocks_and_calibrates(tmp_path):
    blocks = SPACE.blocks()
    cost = {b: 0.01 * (1 + i % 7) for i, b in enumerate(blocks)}  # a fake device
    lut = LookupTablePredictor.from_measurements("fake", SPACE, blocks, list(cost.values()), 0.05)
    arch = SPACE.baseline()
    assert lut.table_sum_ms(arch) == pytest.approx(0.05 + sum(cost[b] for b in SPACE.layout(arch)))
    # whole archs run 10 % slower than their parts alone: calibration finds it, and the
    # median ratio ignores one wild measurement
    sample = archs(12)
    measured = [1.1 * lut.table_sum_ms(a) for a in sample]
    fitted = lut.calibrate(sample, [*measured[:-1], 50 * measured[-1]])
    assert fitted.scale == pytest.approx(1.1)
    held = archs(10, seed=2)
    truth = [1.1 * lut.table_sum_ms(a) for a in held]
    assert median_ape([fitted.predict_ms(a) for a in held], truth) < 1e-9
    assert LookupTablePredictor.load(fitted.save(tmp_path / "lut.json")) == fitted
    partial = LookupTablePredictor.from_measurements("fake", SPACE, blocks[:3], [1.0] * 3, 0.1)
    with pytest.raises(ConfigError, match="never timed"):
        partial.predict_ms(SPACE.largest())
    with pytest.raises(ConfigError, match="at least one"):
        lut.calibrate([], [])


def test_measured_parts_are_positive_and_in_order():
    # blocks, tail and archs timed in one child: each answer lands on its own item
    large = SPACE.largest()
    least = Stage(min(SPACE.widths), min(SPACE.depths), min(SPACE.kernels), min(SPACE.expansions))
    small = Arch((least,) * len(SPACE.strides))
    blocks_ms, tail_ms, archs_ms = measure_parts_ms(
        SPACE, SPACE.blocks()[:3], [large, small], repeats=3, round_s=0.02, warmup_s=0.0
    )
    assert len(blocks_ms) == 3 and all(0 < m < 1000 for m in [*blocks_ms, tail_ms, *archs_ms])
    assert archs_ms[0] > archs_ms[1]  # the largest arch is far slower than the smallest


def test_median_ape_hand_case():
    assert median_ape([110, 90, 100], [100, 100, 100]) == pytest.approx(0.1)


def test_measured_latency_is_positive():
    # the real child process on the host, kept tiny (one short round)
    ms = measure_latency_ms(archs(2), SPACE, repeats=1, round_s=0.005, warmup_s=0.0)
    assert len(ms) == 2 and all(0 < m < 1000 for m in ms)


def test_hypervolume_hand_computed():
    # rectangles [1,4]x[3,4] (3) and [2,4]x[1,4] (6) overlap in [2,4]x[3,4] (2): 7
    assert hypervolume_2d([(1, 3), (2, 1)], (4, 4)) == pytest.approx(7.0)
    # dominated (3, 3), outside (5, 0) and on-the-boundary (1, 4) points add nothing
    assert hypervolume_2d([(2, 1), (1, 3), (3, 3), (5, 0), (1, 4)], (4, 4)) == pytest.approx(7.0)
    assert hypervolume_2d([], (4, 4)) == 0.0


def candidate(acc: float | None, ms: float, i: int) -> Candidate:
    return Candidate(archs(8)[i], acc, ms, 0, 0)


def test_front_dominance_and_front_hypervolume():
    base = candidate(0.8, 2.0, 0)
    cands = [candidate(0.85, 1.5, 1), candidate(0.7, 1.0, 2), candidate(None, 0.5, 3)]
    assert [c.accuracy for c in front(cands)] == [0.7, 0.85]  # by latency, infeasible left out
    assert [c.latency_ms for c in dominating(cands, base)] == [1.5]
    # error 0.3 from 1 ms, 0.15 from 1.5 ms, reference (3 ms, 0.9): 2*0.6 + 1.5*0.15
    assert front_hypervolume(cands, 3.0, 0.9) == pytest.approx(1.2 + 0.225)


def test_both_samplers_run_the_same_budget_and_respect_memory():
    pytest.importorskip("optuna", reason="needs the nas extra")
    limit = MemoryLimit(param_bytes=800_000, activation_bytes=160_000)
    trained = []

    def fake_accuracy(arch: Arch) -> float:  # more channels help, saturating
        trained.append(arch)
        return 1 - 1 / (1 + sum(s.width * s.depth * s.expansion for s in arch.stages))

    def fake_latency(arch: Arch) -> float:
        return features(arch, SPACE)["dense_mmacs"] + 0.1

    found = {
        s: search(SPACE, fake_accuracy, fake_latency, trials=12, sampler=s, memory=limit, seed=3)
        for s in ("nsga2", "random")
    }
    assert {s: len(c) for s, c in found.items()} == {"nsga2": 12, "random": 12}
    assert len(trained) == sum(c.feasible for cands in found.values() for c in cands) < 24
    for cands in found.values():
        for c in cands:
            fits = (
                c.param_bytes <= limit.param_bytes and c.activation_bytes <= limit.activation_bytes
            )
            assert c.feasible == fits
        assert front(cands) and all(c.feasible for c in front(cands))
    with pytest.raises(ConfigError, match="sampler 'grid'"):
        search(SPACE, fake_accuracy, fake_latency, trials=2, sampler="grid")  # type: ignore[arg-type]
