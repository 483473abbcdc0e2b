# The README's two commands: `make study` and `make test`. Both create/update .venv from requirements.txt.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PAPERMILL := $(BIN)/papermill -k python3 --language python

.PHONY: venv study shipped recalibrate potential ablation active sweep ood band-gap transfer config-search test export readme docs docs-test

$(STAMP): requirements.txt setup.py settings.ini
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

# fast (default, minutes): shipped weights and data. FULL=1: first retrain every shipped property model (`make shipped`,
# their own recipes) and the potential, and rerun the ablation and the active-learning benchmark (hours on 2 cores).
STUDY_NOTEBOOKS := $(if $(FULL),01_predict 02_potential 03_ablation 04_explain 05_active 06_sweep 07_active_loop 08_potential_md 09_ood 11_transfer 12_dft_convergence 13_screen 14_battery 16_band_gap 10_metrics,01_predict 04_explain 06_sweep 07_active_loop 08_potential_md 12_dft_convergence 13_screen 14_battery 10_metrics)

study: $(STAMP) $(if $(FULL),shipped)
	mkdir -p figures/runs
	for nb in $(STUDY_NOTEBOOKS); do \
	  $(PAPERMILL) --cwd nbs/study nbs/study/$$nb.ipynb figures/runs/$$nb.ipynb || exit 1; \
	done
	$(BIN)/python docs/build.py readme  # the README's table is read from figures/metrics.json

# one shipped model, trained by its recipe (nirich_cgcnn.train.RECIPES, the one `nirich-train --recipe` uses):
# $(call train,property,run record name,extra papermill options)
train = mkdir -p figures/runs && $(PAPERMILL) --cwd nbs/study nbs/study/00_train.ipynb figures/runs/$(2)_$(1).ipynb -p recipe $(1) $(3)

SHIPPED := formation_energy_per_atom log10_bulk_modulus log10_shear_modulus defect_class band_gap fermi_level
.PHONY: $(addprefix shipped-,$(SHIPPED)) shipped-defect_energy

# retrain every shipped property model from data/nirich (and rewrite data/sample); one target per property, so
# `OMP_NUM_THREADS=1 make -j2 shipped` trains two at a time on two cores
shipped: $(addprefix shipped-,$(SHIPPED))  # then defect_energy, which starts from the formation-energy ensemble
	$(MAKE) shipped-defect_energy
shipped-formation_energy_per_atom: $(STAMP)  # ~20 min a network on one core, five networks (an interrupted run resumes from the finished ones); rewrites data/sample
	$(call train,formation_energy_per_atom,00_train,-p sample_dir ../../data/sample)
shipped-log10_bulk_modulus: $(STAMP)
	$(call train,log10_bulk_modulus,00_train)
shipped-log10_shear_modulus: $(STAMP)
	$(call train,log10_shear_modulus,00_train)
shipped-defect_energy: $(STAMP)  # the formation-energy ensemble fine-tuned on host-defect pairs, default of defect_energies (~20 min on one core, after shipped-formation_energy_per_atom)
	rm -rf figures/difference_runs
	$(BIN)/python bench/differences.py --ship nirich_cgcnn/models/defect_energy.pt
shipped-defect_class: $(STAMP)
	$(call train,defect_class,00_train)
shipped-band_gap: $(STAMP)
	$(call train,band_gap,00_train)
shipped-fermi_level: $(STAMP)
	$(call train,fermi_level,00_train)

recalibrate: $(STAMP)  # refit the σ calibrations of the shipped regression models (validation split, or their saved CV tables; minutes)
	for p in formation_energy_per_atom log10_bulk_modulus log10_shear_modulus band_gap fermi_level; do \
	  $(call train,$$p,00_recalibrate,-p retrain False) || exit 1; \
	done

potential: $(STAMP)  # retrain the shipped CGCNN potential on the oracle's frames (hours; resumes from nirich_cgcnn/models/energy.pt.partial)
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

ood: $(STAMP)  # epistemic σ on a family never trained on (NCA-F) vs in-distribution test cells
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/09_ood.ipynb figures/runs/09_ood.ipynb

config-search: $(STAMP)  # strategies on the fixed-composition pools of data/pools (hours on 2 cores; label the pools first)
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/15_config_search.ipynb figures/runs/15_config_search.ipynb

band-gap: $(STAMP)  # band-gap models compared on the DFT labels (group CV) and learning curves by acquisition (~30 min on one core)
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/16_band_gap.ipynb figures/runs/16_band_gap.ipynb

transfer: $(STAMP)  # DFT properties from scratch vs from the formation-energy trunk
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/11_transfer.ipynb figures/runs/11_transfer.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest -q tests; rc=$$?; if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi
	$(BIN)/nbdev_test --n_workers 2

export: $(STAMP)
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: $(STAMP)  # README.md from nbs/index.ipynb (tests/test_readme.py checks they agree)
	$(BIN)/python docs/build.py readme

DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): requirements-docs.txt $(STAMP)
	$(BIN)/pip install -q -r requirements-docs.txt
	touch $@

# the documentation site, offline, into _site/ (library notebooks executed and cached in _build/executed/)
docs: $(DOCS_STAMP)
	$(BIN)/python docs/build.py site

# build the site and check it in headless Chromium (apt-get install chromium); not part of `make test`
docs-test: $(DOCS_STAMP)
	$(BIN)/python -m pytest -q -m docs tests/test_docs.py
