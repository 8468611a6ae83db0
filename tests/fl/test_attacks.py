import numpy as np
import pytest
import torch

from skyline.errors import ConfigError, UnknownNameError
from skyline.fl import create_attack

RNG = np.random.default_rng(0)
RECEIVED = [np.array([1.0, 2.0], dtype=np.float32)]
TRAINED = [np.array([1.5, 1.0], dtype=np.float32)]  # honest update (+0.5, -1.0)


def test_sign_flip_pushes_the_other_way() -> None:
    out = create_attack("sign_flip:4").weights(TRAINED, RECEIVED, RNG)
    assert out[0].tolist() == [1.0 - 2.0, 2.0 + 4.0]


def test_scaled_amplifies_the_update() -> None:
    out = create_attack("scaled:10").weights(TRAINED, RECEIVED, RNG)
    assert out[0].tolist() == [6.0, -8.0]


def test_random_replaces_the_model() -> None:
    out = create_attack("random:3").weights(TRAINED, RECEIVED, RNG)
    assert out[0].shape == (2,) and not np.allclose(out[0], TRAINED[0])


def test_label_flip_maps_labels_and_keeps_weights() -> None:
    attack = create_attack("label_flip")
    assert attack.labels(torch.tensor([0, 3, 9]), 10).tolist() == [9, 6, 0]
    assert attack.weights(TRAINED, RECEIVED, RNG) is TRAINED


@pytest.mark.parametrize(
    ("spec", "error"),
    [("poison", UnknownNameError), ("scaled:-1", ConfigError), ("scaled:x", ConfigError)],
)
def test_bad_attack_specs(spec: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        create_attack(spec)
