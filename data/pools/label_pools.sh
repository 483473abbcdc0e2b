#!/usr/bin/env bash
# Label the configuration pools with the CHGNet oracle, interleaved in batches (resumable; rerun to continue).
# Arguments: the pools to label (default both); one process per pool uses one core each.
# The oracle starts from the potential's pre-relaxed cells (data/pools/prerelax.py) when they exist.
cd "$(dirname "$0")/../.."
for round in $(seq 1 12); do
  for p in ${@:-NCM811_2Al_2vLi NCM811_2antisite}; do
    src=data/pools/$p/prerelaxed; [ -f $src/structures.csv ] || src=data/pools/$p/candidates
    OMP_NUM_THREADS=1 .venv/bin/nirich-data label --in $src --out data/pools/$p \
      --md-steps 0 --elastic-every 0 --workers 1 --limit 45 --no-progress
    .venv/bin/nirich-data collect --out data/pools/$p > /dev/null  # tables, figure and pool card
  done
done
