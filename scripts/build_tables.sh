#!/usr/bin/env bash
# Build (or resume building) the three shipped tabular benchmarks (fashion-dpp, fashion-monas,
# fashion-dpp-long). CPU hours on 2 cores;
# safe to stop and restart at any time: progress is in data/table_builds/NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
DPPNAS=${DPPNAS:-.venv/bin/dppnas}

# fashion-dpp: every DPP-Net cell up to depth 2 (18 + 18^2 = 342) on a small backbone;
# 9 epochs so that MO-ASHA has rungs at 1, 3 and 9 epochs.
$DPPNAS bench build --name fashion-dpp --space dpp \
    -o max_depth=2 -o stem_width=16 -o 'cells_per_stage=[1, 1]' -o 'growth=[8, 16]' -o stem_pool=true \
    --dataset fashion-mnist --train-subset 10000 --epochs 9 --seed 0 --workers "${WORKERS:-2}"

# fashion-monas: MONAS's layer-wise CNN reduced to 2 layers, kernels {1,3,5,7}^2, filters
# {16, 32}, pooling after every layer: (4*4*2)^2 = 1,024 architectures; 4 epochs.
$DPPNAS bench build --name fashion-monas --space monas \
    -o num_layers=2 -o 'filters=[16, 32]' -o pool_every=1 \
    --dataset fashion-mnist --train-subset 10000 --epochs 4 --seed 0 --workers "${WORKERS:-2}"

# fashion-dpp-long: the fashion-dpp space with a budget long enough for successive halving
# (27 epochs: MO-ASHA rungs at 1, 3, 9 and 27 with eta = 3) on a 5k subset to halve the cost
# of an epoch; for the MO-ASHA vs FIFO comparison (issue 6).
$DPPNAS bench build --name fashion-dpp-long --space dpp \
    -o max_depth=2 -o stem_width=16 -o 'cells_per_stage=[1, 1]' -o 'growth=[8, 16]' -o stem_pool=true \
    --dataset fashion-mnist --train-subset 5000 --epochs 27 --seed 0 --workers "${WORKERS:-2}"
