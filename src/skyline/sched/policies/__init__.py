"""Scheduling policies behind one interface, created by name: `policies.create("random")`."""

from skyline.sched.policies import balance, drl, fixed, greedy, optimum
from skyline.sched.policies.base import POLICIES, Policy, check_policy, create, names, register

__all__ = [
    "POLICIES",
    "Policy",
    "balance",
    "check_policy",
    "create",
    "drl",
    "fixed",
    "greedy",
    "names",
    "optimum",
    "register",
]
