"""One exception tree; messages carry the fix; registries refuse silent overwrites."""

import pytest

from skyline._registry import Registry, load_object
from skyline.errors import (
    ConfigError,
    InfeasiblePlanError,
    ModelCaptureError,
    PlanError,
    RegistryError,
    SkylineError,
    TopologyError,
    UnknownNameError,
)


def test_tree():
    for cls in (
        ConfigError,
        TopologyError,
        UnknownNameError,
        RegistryError,
        ModelCaptureError,
        PlanError,
    ):
        assert issubclass(cls, SkylineError)
    assert issubclass(InfeasiblePlanError, PlanError)
    assert issubclass(TopologyError, ValueError) and issubclass(UnknownNameError, KeyError)


def test_fix_is_part_of_the_message():
    err = ConfigError("bandwidth = -1", fix="use a positive number")
    assert (
        str(err) == "bandwidth = -1. Fix: use a positive number"
        and err.fix == "use a positive number"
    )
    assert (
        str(UnknownNameError("unknown planner 'x'")) == "unknown planner 'x'"
    )  # no KeyError quotes


def test_registry():
    reg: Registry[int] = Registry("thing")
    reg.register("one", 1)
    reg.register("one", 1)  # same object again: fine
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("one", 2)
    assert reg.register("one", 2, overwrite=True) == 2
    with pytest.raises(UnknownNameError, match="one"):
        reg.get("two")
    with pytest.raises(RegistryError):
        reg.register(" spaced", 3)
    assert reg.get("math:pi") == pytest.approx(3.14159, abs=1e-5)
    assert "one" in reg and list(reg) == ["one"]


def test_load_object_errors():
    with pytest.raises(UnknownNameError, match="module:attr"):
        load_object("nocolon")
    with pytest.raises(UnknownNameError, match="cannot import"):
        load_object("no_such_module_xyz:thing")
    with pytest.raises(UnknownNameError, match="no attribute"):
        load_object("math:nope")
