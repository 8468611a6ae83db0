"""Planners behind one interface, created by name: `planners.create("dads")`."""

from skyline.plan.planners import exhaustive, fixed, mincut, neurosurgeon
from skyline.plan.planners.base import PLANNERS, Planner, check_planner, create, names, register

__all__ = [
    "PLANNERS",
    "Planner",
    "check_planner",
    "create",
    "exhaustive",
    "fixed",
    "mincut",
    "names",
    "neurosurgeon",
    "register",
]
