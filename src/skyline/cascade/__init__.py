"""Edge-cloud cascades (Sedna-style joint inference): a small edge model answers, and a
hard-example policy decides which samples a large cloud model answers instead."""

from skyline.cascade.models import cloud_cnn, edge_cnn
from skyline.cascade.policies import (
    POLICIES,
    HardExamplePolicy,
    check_policy,
    create,
    features,
    names,
    register,
)
from skyline.cascade.sweep import (
    gap_recovered,
    sweep,
    threshold_for_accuracy,
    threshold_for_share,
)

__all__ = [
    "POLICIES",
    "HardExamplePolicy",
    "check_policy",
    "cloud_cnn",
    "create",
    "edge_cnn",
    "features",
    "gap_recovered",
    "names",
    "register",
    "sweep",
    "threshold_for_accuracy",
    "threshold_for_share",
]
