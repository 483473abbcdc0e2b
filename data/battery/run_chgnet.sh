#!/usr/bin/env bash
# CHGNet-oracle reference of the battery study (nbs/study/14_battery.ipynb): the same orderings as the model's.
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
[ -f data/battery/LiNiO2_chgnet.csv ] || .venv/bin/nirich-voltage LiNiO2 --energy chgnet --out data/battery/LiNiO2_chgnet.csv
[ -f data/battery/NCM811_chgnet.csv ] || .venv/bin/nirich-voltage NCM811 --max-per-x 6 --energy chgnet --out data/battery/NCM811_chgnet.csv
