"""MONAS (Hsu et al. 2018, arXiv 1806.10332): an LSTM controller trained with REINFORCE on
mixed, constrained or Pareto rewards, as a Ray Tune ``Searcher``; registered as ``monas``.

* :mod:`.searcher`: :class:`MONASSearcher`, the Tune-facing class;
* :mod:`.controller`: the LSTM policy (sample, log-probability, entropy);
* :mod:`.learner`: the rewards' settings and bookkeeping, the REINFORCE step;
* :mod:`.rewards`: the rewards, pure functions;
* :mod:`.options`: the ``searcher: {name: monas, ...}`` options and factory, ``PAPER_LIKE``.

The space as an ordered list of decisions is :mod:`search_algos.decisions` (shared with
DPP-Net); the Tune contract both follow is :mod:`search_algos.base`.
"""

from search_algos.monas.options import PAPER_LIKE, MONASOptions, monas
from search_algos.monas.searcher import MONASSearcher

__all__ = ["PAPER_LIKE", "MONASOptions", "MONASSearcher", "monas"]
