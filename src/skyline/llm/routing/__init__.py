"""Routing (cascade) between the edge's draft and the cloud's target: routers behind one
interface and a registry (`routing.create("draft-loss")`), the per-prompt signals and quality
labels they use, cost-quality curves and thresholds for a target cloud share."""

from skyline.cascade import threshold_for_share
from skyline.llm.routing import routers
from skyline.llm.routing.base import ROUTERS, Router, check_router, create, names, register
from skyline.llm.routing.cascade import Cascade, RoutedAnswer
from skyline.llm.routing.signals import (
    Labels,
    Measured,
    Signals,
    answer_quality,
    draft_signals,
    measure,
)
from skyline.llm.routing.sweep import RouterResult, area, compare, curve, random_line

__all__ = [
    "ROUTERS",
    "Cascade",
    "Labels",
    "Measured",
    "RoutedAnswer",
    "Router",
    "RouterResult",
    "Signals",
    "answer_quality",
    "area",
    "check_router",
    "compare",
    "create",
    "curve",
    "draft_signals",
    "measure",
    "names",
    "random_line",
    "register",
    "routers",
    "threshold_for_share",
]
