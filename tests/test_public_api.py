"""The curated top-level API is a promise: changing it must be a deliberate edit of this list."""

import skyline

EXPECTED = {
    "CloudWorker",
    "ConfigError",
    "Constraints",
    "CostModel",
    "EdgeWorker",
    "InfeasiblePlanError",
    "Link",
    "ModelCaptureError",
    "ModelGraph",
    "Node",
    "Objective",
    "Plan",
    "PlanError",
    "Planner",
    "RegistryError",
    "Scenario",
    "SkylineError",
    "Tier",
    "Topology",
    "TopologyError",
    "UnknownNameError",
    "__version__",
    "cascade",
    "data",
    "exits",
    "load_topology",
    "models",
    "planners",
    "profile",
    "simulate",
    "split",
    "topology_preset",
}


def test_public_api_is_pinned():
    assert set(skyline.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(skyline, name), name


def test_planner_registry_contents():
    assert set(skyline.planners.names()) >= {
        "device-only",
        "edge-only",
        "cloud-only",
        "neurosurgeon",
        "dads",
        "tiered",
        "exhaustive",
    }


def test_docstring_example_runs():
    model = skyline.models.create("small_cnn")
    graph = skyline.profile(model, skyline.models.spec("small_cnn").example_inputs(), repeats=1)
    plan = skyline.planners.create("dads").plan(graph, skyline.topology_preset("device-edge-cloud"))
    assert len(skyline.split(graph, plan).stages) == len(plan.stages)
