# The README's two commands: `make study` and `make test`. Both create/update .venv from requirements.txt.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N_DROPOUT ?= 25
PAPERMILL := $(BIN)/papermill -k python3 --language python

.PHONY: venv study shipped potential ablation active sweep test export

$(STAMP): requirements.txt setup.py settings.ini
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

study: $(STAMP)
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/01_predict.ipynb figures/runs/01_predict.ipynb -p n_dropout $(N_DROPOUT)
	$(PAPERMILL) --cwd nbs/study nbs/study/04_explain.ipynb figures/runs/04_explain.ipynb

shipped: $(STAMP)  # retrain the shipped formation-energy model from data/nirich and rewrite data/sample
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/00_train.ipynb figures/runs/00_train.ipynb

potential: $(STAMP)  # retrain the shipped CGCNN potential on the oracle's frames
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/02_potential.ipynb figures/runs/02_potential.ipynb

ablation: $(STAMP)  # retrain the ablation of multi-scale/attention (tens of minutes on 2 cores)
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/03_ablation.ipynb figures/runs/03_ablation.ipynb

active: $(STAMP)  # strategy benchmark of active learning on the labelled pool (tens of minutes on 2 cores)
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/05_active.ipynb figures/runs/05_active.ipynb

sweep: $(STAMP)  # papermill sweep of n_dropout over the prediction study
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/06_sweep.ipynb figures/runs/06_sweep.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest -q tests; rc=$$?; if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi
	$(BIN)/nbdev_test --n_workers 2

export: $(STAMP)
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean
