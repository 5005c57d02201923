"""Progressive expansion of cells: every kept cell grows by one (norm, conv) layer.

The PNAS step (Liu et al., "Progressive Neural Architecture Search", ECCV 2018) as DPP-Net
uses it (Dong et al., ECCV 2018, Sec. 3.3): the ``K`` cells kept at depth ``b`` are expanded
with every operation into the candidates of depth ``b + 1``. DPP-Net grows the Norm and the
Conv layers in turn; here one step adds a (norm, conv) pair (ours, as in
:mod:`dppnas.spaces.dpp`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dppnas.spaces import Cell


def root_cells(norms: Sequence[str], convs: Sequence[str]) -> list[Cell]:
    """Every cell of depth 1: ``len(norms) * len(convs)`` of them, norms outermost."""
    return [Cell(((norm, conv),)) for norm in norms for conv in convs]


def expand(
    cells: Iterable[Cell],
    norms: Sequence[str],
    convs: Sequence[str],
) -> list[Cell]:
    """Every cell of ``cells`` extended by every ``(norm, conv)`` pair, once each.

    Order: parents in the given order, then norms, then convs (deterministic). A cell that
    appears twice (a repeated parent) is left out, so ``k`` distinct parents of one depth give
    ``k * len(norms) * len(convs)`` candidates. (Cells already trained are left out by the
    step planning, :func:`search_algos.dpp.steps.new_candidates`, for every growth rule.)
    """
    seen: set[Cell] = set()
    candidates: list[Cell] = []
    for cell in cells:
        for norm in norms:
            for conv in convs:
                child = cell.extend(norm, conv)
                if child not in seen:
                    seen.add(child)
                    candidates.append(child)
    return candidates
