#!/usr/bin/env bash
# Label the configuration pools with the CHGNet oracle, interleaved in batches (resumable; rerun to continue).
cd "$(dirname "$0")/../.."
for round in $(seq 1 12); do
  for p in NCM811_2Al_2vLi NCM811_2antisite; do
    OMP_NUM_THREADS=1 .venv/bin/nirich-data label --in data/pools/$p/candidates --out data/pools/$p \
      --md-steps 0 --elastic-every 0 --workers 1 --limit 45 --no-progress
  done
done
