"""Pareto tooling: objectives, non-dominated fronts (indicators come from moocore)."""

from dppnas.pareto.objectives import Objective, has_objectives, non_dominated_mask, objective_matrix

__all__ = ["Objective", "has_objectives", "non_dominated_mask", "objective_matrix"]
