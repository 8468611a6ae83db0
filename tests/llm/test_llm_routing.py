"""Routing between the edge's draft and the cloud's target: hand-computed curves (oracle on a
tiny labelled set, random's expected line), thresholds for a target share, each router's score,
the learned router recovering a linear gap, the registry, and signals/labels measured on small
seeded models."""

import math

import numpy as np
import pytest
import torch

from skyline.errors import ConfigError, RegistryError, UnknownNameError
from skyline.llm import LMConfig, routing
from skyline.llm.routing import Cascade, Labels, Measured, Signals
from skyline.llm.speculative import generate

torch.set_num_threads(1)
SHARES = [0.0, 0.25, 0.5, 0.75, 1.0]


def signals(n, **columns):
    base = {name: np.full(n, 0.5) for name in Signals.names()}
    base["prompt_length"] = np.full(n, 8.0)
    return Signals(**{**base, **columns})


# edge answers of quality 1, 0.5, 0, 0.75; the cloud's are 1 by definition: gaps 0, .5, 1, .25
LABELS = Labels(np.array([1.0, 0.5, 0.0, 0.75]), np.ones(4))


def test_oracle_curve_on_a_tiny_labelled_set():
    scores = routing.create("oracle").score(signals(4), LABELS)
    assert scores.tolist() == [0.0, 0.5, 1.0, 0.25]
    points = routing.curve(scores, LABELS, SHARES)
    # mean 0.5625, then + 1/4, + 0.5/4, + 0.25/4, + 0
    assert points == [(0.0, 0.5625), (0.25, 0.8125), (0.5, 0.9375), (0.75, 1.0), (1.0, 1.0)]
    assert routing.area(points) == pytest.approx(
        (0.5625 + 0.8125) / 8 + (0.8125 + 0.9375) / 8 + (0.9375 + 1) / 8 + 0.25
    )


def test_random_router_follows_the_expected_line_on_average():
    assert routing.random_line(LABELS, 0.5) == 0.5625 + 0.5 * 0.4375
    mean = np.mean(
        [
            [
                q
                for _, q in routing.curve(
                    routing.create("random", seed=s).score(signals(4)), LABELS, SHARES
                )
            ]
            for s in range(4000)
        ],
        axis=0,
    )
    expected = [routing.random_line(LABELS, s) for s in SHARES]
    assert mean == pytest.approx(expected, abs=0.01)
    assert mean[0] == expected[0] and mean[-1] == expected[-1]  # exact at both ends


def test_threshold_picks_the_target_share_and_routes_with_it():
    scores = np.array([0.9, 0.1, 0.5, 0.7])
    assert routing.threshold_for_share(scores, 0.5) == 0.7  # sends 0.9 and 0.7
    assert routing.threshold_for_share(scores, 0.6) == 0.7  # at most the share
    assert routing.threshold_for_share(scores, 0.0) == math.inf


def test_compare_fits_thresholds_on_one_set_and_measures_on_another():
    fit = Measured([[]] * 4, signals(4, prompt_loss=np.array([0.1, 2.0, 3.0, 1.0])), LABELS)
    test = Measured(
        [[]] * 4,
        signals(4, prompt_loss=np.array([3.0, 0.2, 1.5, 2.5])),
        Labels(np.array([0.0, 1.0, 0.8, 0.5]), np.ones(4)),
    )
    routers = {name: routing.create(name) for name in ["draft-loss", "oracle", "random"]}
    results = {r.router: r for r in routing.compare(routers, fit, test, SHARES, 0.5)}
    loss = results["draft-loss"]
    assert loss.threshold == 2.0  # the fit set's two highest losses are 3.0 and 2.0
    assert loss.share == 0.5 and loss.quality == pytest.approx((1 + 1 + 1 + 0.8) / 4)
    assert loss.at_target_share == loss.quality  # the curve sends the same two prompts
    assert loss.points == results["oracle"].points  # loss ranks the test gaps perfectly here
    assert results["oracle"].area >= results["random"].area


def test_signal_routers_score_as_documented():
    s = signals(
        3,
        prompt_loss=np.array([1.0, 3.0, 2.0]),
        answer_confidence=np.array([0.9, 0.2, 0.6]),
        prompt_confidence=np.array([0.3, 0.8, 0.5]),
    )
    assert routing.create("draft-loss").score(s).tolist() == [1.0, 3.0, 2.0]
    assert routing.create("edge-confidence").score(s) == pytest.approx([0.1, 0.8, 0.4])
    assert routing.create("edge-confidence", on="prompt").score(s) == pytest.approx([0.7, 0.2, 0.5])
    with pytest.raises(ConfigError, match="on="):
        routing.create("edge-confidence", on="both")


def test_learned_router_recovers_a_gap_linear_in_one_signal():
    g = np.random.default_rng(0)
    n = 200
    x = g.normal(size=(n, len(Signals.names())))
    x[:, -1] = g.uniform(4, 64, n)  # a length
    s = Signals(*x.T)
    gap = np.clip(0.5 + 0.2 * x[:, 0] - 0.1 * x[:, 3], 0, 1)
    labels = Labels(1 - gap, np.ones(n))
    learned = routing.create("learned", l2=0.0).fit(
        s.take(np.arange(100)), labels.take(np.arange(100))
    )
    test, test_labels = s.take(np.arange(100, n)), labels.take(np.arange(100, n))
    shares = np.linspace(0, 1, 11).tolist()
    got = routing.curve(learned.score(test), test_labels, shares)
    best = routing.curve(routing.create("oracle").score(test, test_labels), test_labels, shares)
    assert routing.area(got) == pytest.approx(routing.area(best), abs=2e-3)
    with pytest.raises(ConfigError, match="not been fitted"):
        routing.create("learned").score(test)


def test_registry_and_plugin_checks(monkeypatch):
    assert routing.names() == ["draft-loss", "edge-confidence", "learned", "oracle", "random"]
    with pytest.raises(UnknownNameError, match="draft-loss"):
        routing.create("entropy")
    with pytest.raises(ConfigError, match="needs the labels"):
        routing.create("oracle").score(signals(2))
    monkeypatch.setattr(routing.ROUTERS, "_items", dict(routing.ROUTERS._items))

    @routing.register
    class Short(routing.Router):
        name = "short"

        def hardness(self, signals, labels):
            return np.zeros(1)

    with pytest.raises(RegistryError, match="one finite score per prompt"):
        routing.create("short").score(signals(3))

    class NoName(routing.Router):
        hardness = Short.hardness

    for bad, match in [
        (int, "not a Router"),
        (routing.Router, "does not implement"),
        (NoName, "name"),
    ]:
        with pytest.raises(RegistryError, match=match):
            routing.check_router(bad)


def test_signals_and_labels_measured_on_small_models(make_scrambled, make_noisy_copy):
    config = LMConfig(d_model=32, n_layers=2, n_heads=2, max_len=64)
    target = make_scrambled(config, seed=1)
    draft = make_noisy_copy(target, seed=2, scale=0.5)
    prompts = [[1, 2, 3, 4], [200, 100, 50, 25, 12, 6], [7, 7]]
    measured = routing.measure(draft, prompts, 8, target)
    assert [len(a) for a in measured.answers] == [8, 8, 8]
    assert measured.answers[0] == generate(draft, prompts[0], 8)
    s, labels = measured.signals, measured.labels
    assert s.prompt_length.tolist() == [4, 6, 2]
    assert ((s.prompt_confidence > 0) & (s.prompt_confidence <= 1)).all()
    assert (s.prompt_loss > 0).all() and (s.answer_entropy >= 0).all()
    assert labels.cloud_quality.tolist() == [1, 1, 1]
    # quality counts the answer tokens that are the target's greedy choice, by hand
    for prompt, answer, quality in zip(prompts, measured.answers, labels.edge_quality, strict=True):
        logits, _ = target(torch.tensor([prompt + answer[:-1]]))
        chosen = logits[0, len(prompt) - 1 :].argmax(-1).tolist()
        assert quality == sum(c == a for c, a in zip(chosen, answer, strict=True)) / 8
    same = routing.measure(target, prompts, 8, target)
    assert same.labels.edge_quality.tolist() == [1, 1, 1]  # the target agrees with itself
    assert routing.measure(draft, prompts, 4).labels is None
    with pytest.raises(ConfigError, match="no loss"):
        routing.measure(draft, [[5]], 4)


def test_cascade_answers_at_the_edge_or_escalates(make_scrambled, make_noisy_copy):
    config = LMConfig(d_model=32, n_layers=2, n_heads=2, max_len=64)
    target = make_scrambled(config, seed=1)
    draft = make_noisy_copy(target, seed=2, scale=0.5)
    prompt = [9, 8, 7, 6]
    router = routing.create("draft-loss")
    edge = Cascade(draft, target, router, math.inf).answer(prompt, 6)
    assert not edge.escalated and edge.tokens == generate(draft, prompt, 6)
    cloud = Cascade(draft, target, router, -math.inf).answer(prompt, 6)
    assert cloud.escalated and cloud.tokens == generate(target, prompt, 6)
    assert cloud.score == edge.score
    with pytest.raises(ConfigError, match="needs labels"):
        Cascade(draft, target, routing.create("oracle"), 0.5)
