"""Replenishment planning: the policy (``plan_replenishment``), its simulation, the textbook rule and
purchase-order proposals. See docs/replenishment.md and the SPEC's "Replenishment planning" section.
"""

from sync.ml.replenishment.policy import plan_replenishment
from sync.ml.replenishment.proposals import propose_orders
from sync.ml.replenishment.simulate import Trace, simulate
from sync.ml.replenishment.whatif import SimulationReport, simulate_policy

__all__ = ["SimulationReport", "Trace", "plan_replenishment", "propose_orders", "simulate", "simulate_policy"]
