"""Reading a run's results: the front table, knee and budget picks, plots, the HTML report."""

from dppnas.results.run import RunResults, load_run
from dppnas.results.summary import BudgetPick, budget_picks, knee_index

__all__ = ["BudgetPick", "RunResults", "budget_picks", "knee_index", "load_run"]
