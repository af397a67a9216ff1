"""The estimate: how long the sweep takes on the pool and what its nodes cost.

wall time = node start-up + ceil(tasks / slots) x (points per task x time per point + the
per-task overhead); node-hours = nodes x wall time (a pool of fixed size bills every node
for the whole job); cost = node-hours x the hourly list price (Spot nodes at the Spot price).
Left out: storage, transactions, egress, taxes, agreements and reservations, preemptions,
and nodes of an autoscaling pool (their number is the formula's).
"""

from __future__ import annotations

import math

from superbatch.backends.azure.prices import VmPrice
from superbatch.backends.azure.spec import azure_section
from superbatch.backends.reports import CostEstimate
from superbatch.plan.chunks import JobPlan
from superbatch.spec.models import JobSpec

TASK_OVERHEAD_S = 2.0  # scheduling, resource files in, outputs out: per task, on Batch


def estimate(
    spec: JobSpec, plan: JobPlan, per_point_s: float | None, source: str, price: VmPrice, mode: str
) -> CostEstimate:
    pool = azure_section(spec).pool
    dedicated, spot = pool.dedicated_nodes, pool.low_priority_nodes
    nodes = dedicated + spot
    resources = (
        f"{dedicated} x {pool.vm_size} dedicated + {spot} Spot, "
        f"{pool.task_slots_per_node} task slot{'s' if pool.task_slots_per_node != 1 else ''} "
        f"each, {mode} mode"
    )
    est = CostEstimate(
        resources,
        plan.task_count,
        plan.point_count,
        per_point_s,
        source,
        None,
        price_per_hour={"dedicated": price.dedicated, "spot": price.spot},
        price_source=price.source,
    )
    if pool.autoscale_formula:
        est.resources = f"{pool.vm_size}, autoscale, {mode} mode"
        est.notes.append(
            "the pool autoscales: its node count is the formula's, so neither "
            "duration nor cost is estimated"
        )
        return est
    if per_point_s is None:
        est.notes.append(
            "no time per point: give tasks.estimated_time, or measure it with "
            "`superbatch plan --sample N`"
        )
        return est
    slots = max(1, nodes * pool.task_slots_per_node)
    task_s = plan.points_per_task * per_point_s + TASK_OVERHEAD_S
    est.duration_s = pool.startup_time.total_seconds() + math.ceil(plan.task_count / slots) * task_s
    hours = est.duration_s / 3600
    est.node_hours = {"dedicated": dedicated * hours, "spot": spot * hours}
    if price.dedicated is None or (spot and price.spot is None):
        est.notes.append(f"price {price.source}")
        return est
    est.cost_usd = est.node_hours["dedicated"] * price.dedicated + est.node_hours["spot"] * (
        price.spot or 0.0
    )
    return est


def spend_so_far(
    dedicated_nodes: int, spot_nodes: int, seconds: float, price: VmPrice
) -> float | None:
    """What the pool's nodes have cost over ``seconds`` (None if the price is unknown)."""
    if price.dedicated is None or (spot_nodes and price.spot is None):
        return None
    hours = max(0.0, seconds) / 3600
    return hours * (dedicated_nodes * price.dedicated + spot_nodes * (price.spot or 0.0))
