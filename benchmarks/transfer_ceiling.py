"""How predictable each HELP target of ``nb201-hw`` is at all: the few-shot goal's ceiling.

For each target, a gradient-boosted model (scikit-learn ``HistGradientBoostingRegressor`` on
log latency) is trained on 80 % of the table's architectures - thousands of measurements instead
of 10 - with every free feature (one-hot edge ops, FLOPs, params, the HELP reference devices'
latencies) and scored on the other 20 % (5-fold cross-validation). Where even this stays below
0.90 within +-10 %, the measurements themselves vary more than 10 % between architectures that
the features cannot tell apart (measurement noise, whole-millisecond rounding on the phones),
and no few-shot model can reach it.

    python benchmarks/transfer_ceiling.py [--table nb201-hw] [--targets pixel2,raspi4]
"""

from __future__ import annotations

import argparse

import numpy as np

from dppnas.devices.reference_table import load_reference_latencies
from dppnas.profiling.evaluate import prediction_scores
from dppnas.profiling.transfer import HELP_META_TEST, HELP_META_TRAIN, HELP_META_VALID


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="nb201-hw", help="table name or nb201-hw style CSV")
    parser.add_argument("--targets", default=",".join(HELP_META_TEST))
    args = parser.parse_args()
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, cross_val_predict

    table = load_reference_latencies(args.table)
    decisions = sorted(table.archs[0])
    choices = sorted({a[d] for a in table.archs for d in decisions})
    onehot = np.array(
        [[a[d] == c for d in decisions for c in choices] for a in table.archs], dtype=float
    )
    refs = [d for d in (*HELP_META_TRAIN, *HELP_META_VALID) if d in table.latencies]
    x = np.column_stack(
        [onehot, *table.features.values(), *(np.log(table.latencies[r]) for r in refs)]
    )
    print(f"{len(table.archs)} architectures of {table.source}; {x.shape[1]} features")
    print(f"{'target':<14} {'spearman':>8} {'within_10pct':>12} {'mape %':>7}")
    for target in args.targets.split(","):
        y = table.latencies[target]
        folds = KFold(5, shuffle=True, random_state=0)
        model = HistGradientBoostingRegressor(max_iter=300, random_state=0)
        predicted = np.exp(cross_val_predict(model, x, np.log(y), cv=folds))
        s = prediction_scores(y, predicted)
        print(
            f"{target:<14} {s['spearman']:>8.3f} {s['within_10pct']:>12.3f} {s['mape']:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
