"""Pareto tooling: objectives, the archive, indicators (moocore) and selection of the best k."""

from dppnas.pareto.archive import ARCHIVE_FILE, ArchiveEntry, ParetoArchive
from dppnas.pareto.indicators import (
    crowding_distance,
    hypervolume,
    igd_plus,
    non_dominated_rank,
    to_minimisation,
)
from dppnas.pareto.objectives import Objective, non_dominated_mask, objective_values
from dppnas.pareto.selection import (
    epsilon_net_order,
    rank_and_crowding_order,
    selection_order,
)

__all__ = [
    "ARCHIVE_FILE",
    "ArchiveEntry",
    "Objective",
    "ParetoArchive",
    "crowding_distance",
    "epsilon_net_order",
    "hypervolume",
    "igd_plus",
    "non_dominated_mask",
    "non_dominated_rank",
    "objective_values",
    "rank_and_crowding_order",
    "selection_order",
    "to_minimisation",
]
