"""The reference zoo: names, exact published sizes, shapes, determinism and graph capture."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from skyline import models
from skyline.errors import ConfigError, UnknownNameError

NAMES = ["inception", "mobilenet_v2", "resnet18", "resnet50", "small_cnn", "vgg16"]
# Published parameter counts at 1000 classes: matching them pins each architecture down.
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872,
    "vgg16": 138_357_544,
}
# Small inputs keep the tests fast; adaptive pooling makes every model accept them.
SIZE = {name: 64 for name in NAMES} | {"small_cnn": 28}


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Timing-free tests still share 2 cores with other jobs; restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def built() -> Callable[[str], nn.Module]:
    """Each default model is built once per module (VGG-16 alone takes ~2 s to initialise)."""
    cache: dict[str, nn.Module] = {}

    def get(name: str) -> nn.Module:
        if name not in cache:
            cache[name] = models.create(name)
        return cache[name]

    return get


def _inputs(name: str, batch: int = 1) -> tuple[torch.Tensor, ...]:
    return models.spec(name).example_inputs(batch=batch, size=SIZE[name])


def test_names_lists_every_model() -> None:
    assert models.names() == NAMES
    assert all(models.spec(name).name == name for name in NAMES)


def test_unknown_name_error_lists_the_registered_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        models.create("resnet19")
    message = str(info.value)
    assert "resnet19" in message
    assert all(name in message for name in NAMES)


def test_module_attr_path_resolves_to_a_model_spec_only(monkeypatch: pytest.MonkeyPatch) -> None:
    custom = models.ModelSpec("custom", nn.Linear, (1, 8), "a user's model")
    monkeypatch.setattr(models, "CUSTOM_SPEC", custom, raising=False)
    assert models.spec("skyline.models:CUSTOM_SPEC") is custom
    with pytest.raises(UnknownNameError, match="not a ModelSpec"):
        models.create("skyline.models:ZOO")


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_parameter_count_matches_the_published_architecture(
    name: str, built: Callable[[str], nn.Module]
) -> None:
    assert sum(p.numel() for p in built(name).parameters()) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_eval_mode(name: str, built: Callable[[str], nn.Module]) -> None:
    model = built(name)
    assert not model.training
    with torch.no_grad():
        out = model(*_inputs(name, batch=2))
    assert out.shape == (2, 10 if name == "small_cnn" else 1000)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_no_inplace_activations(name: str, built: Callable[[str], nn.Module]) -> None:
    assert not [m for m in built(name).modules() if getattr(m, "inplace", False)]


def test_num_classes_and_width_mult_are_passed_to_the_factory() -> None:
    model = models.create("mobilenet_v2", num_classes=7, width_mult=0.5)
    with torch.no_grad():
        assert model(*_inputs("mobilenet_v2")).shape == (1, 7)


@pytest.mark.parametrize("name", ["small_cnn", "mobilenet_v2", "inception", "resnet18"])
def test_same_seed_same_weights_other_seed_other_weights(
    name: str, built: Callable[[str], nn.Module]
) -> None:
    reference = built(name).state_dict()
    again = models.create(name, seed=0).state_dict()
    other = models.create(name, seed=1).state_dict()
    assert all(torch.equal(reference[k], again[k]) for k in reference)
    weights = [k for k in reference if k.endswith("weight")]
    assert not any(torch.equal(reference[k], other[k]) for k in weights if other[k].std() > 0)


def test_building_leaves_the_global_rng_untouched() -> None:
    state = torch.get_rng_state()
    models.create("small_cnn", seed=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_example_inputs_are_deterministic_and_resizable() -> None:
    spec = models.spec("resnet18")
    (a,), (b,) = spec.example_inputs(batch=3, seed=5), spec.example_inputs(batch=3, seed=5)
    assert a.shape == (3, 3, 224, 224) and torch.equal(a, b)
    assert not torch.equal(a, spec.example_inputs(batch=3, seed=6)[0])
    assert spec.example_inputs(size=32)[0].shape == (1, 3, 32, 32)


def test_size_is_refused_for_a_non_image_input() -> None:
    flat = models.ModelSpec("mlp", nn.Linear, (1, 8), "a flat input")
    with pytest.raises(ConfigError):
        flat.example_inputs(size=4)


@pytest.mark.parametrize("name", NAMES)
def test_torch_export_matches_eager_exactly(name: str, built: Callable[[str], nn.Module]) -> None:
    model, inputs = built(name), _inputs(name)
    exported = torch.export.export(model, inputs).module()
    with torch.no_grad():
        assert torch.equal(exported(*inputs), model(*inputs))


@pytest.mark.parametrize("name", NAMES)
def test_fx_symbolic_trace_matches_eager(name: str, built: Callable[[str], nn.Module]) -> None:
    model, inputs = built(name), _inputs(name)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        assert torch.equal(traced(*inputs), model(*inputs))
