"""Replenishment planning: the policy (``plan_replenishment``), its simulation and the textbook rule.

See docs/replenishment.md and the SPEC's "Replenishment planning" section.
"""

from sync.ml.replenishment.policy import plan_replenishment
from sync.ml.replenishment.simulate import Trace, simulate

__all__ = ["Trace", "plan_replenishment", "simulate"]
