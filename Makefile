# The README's two commands: `make study` and `make test`. Both create/update .venv from requirements.txt.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PAPERMILL := $(BIN)/papermill -k python3 --language python

.PHONY: venv study shipped recalibrate potential ablation active sweep ood transfer test export

$(STAMP): requirements.txt setup.py settings.ini
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

# fast (default, minutes): shipped weights and data. FULL=1: first retrain every shipped property model (`make shipped`,
# their own recipes) and the potential, and rerun the ablation and the active-learning benchmark (hours on 2 cores).
STUDY_NOTEBOOKS := $(if $(FULL),01_predict 02_potential 03_ablation 04_explain 05_active 06_sweep 07_active_loop 08_potential_md 09_ood 11_transfer 12_dft_convergence 13_screen 10_metrics,01_predict 04_explain 06_sweep 07_active_loop 08_potential_md 12_dft_convergence 13_screen 10_metrics)

study: $(STAMP) $(if $(FULL),shipped)
	mkdir -p figures/runs
	for nb in $(STUDY_NOTEBOOKS); do \
	  $(PAPERMILL) --cwd nbs/study nbs/study/$$nb.ipynb figures/runs/$$nb.ipynb || exit 1; \
	done

# one shipped model: $(call train,property,task,unit,data folder,sample folder or '',run record name (00_train))
train = mkdir -p figures/runs && $(PAPERMILL) --cwd nbs/study nbs/study/00_train.ipynb figures/runs/$(or $(6),00_train)_$(1).ipynb \
  -p property $(1) -p task $(2) -p unit '$(3)' -p data_dir ../../data/nirich/$(4) -p out ../../nirich_cgcnn/models/$(1).pt \
  -p sample_dir '$(5)'

SHIPPED := formation_energy_per_atom log10_bulk_modulus log10_shear_modulus defect_class band_gap fermi_level
.PHONY: $(addprefix shipped-,$(SHIPPED))

# retrain every shipped property model from data/nirich (and rewrite data/sample); one target per property, so
# `OMP_NUM_THREADS=1 make -j2 shipped` trains two at a time on two cores
shipped: $(addprefix shipped-,$(SHIPPED))
shipped-formation_energy_per_atom: $(STAMP)  # the group 5-fold CV that fits σ is 5 more trainings of ~20 min each
	$(call train,formation_energy_per_atom,regression,eV/atom,cgcnn,../../data/sample) -p crystal_context True
shipped-log10_bulk_modulus: $(STAMP)
	$(call train,log10_bulk_modulus,regression,log10 GPa,cgcnn,)
shipped-log10_shear_modulus: $(STAMP)
	$(call train,log10_shear_modulus,regression,log10 GPa,cgcnn,)
shipped-defect_class: $(STAMP)
	$(call train,defect_class,classification,,cgcnn,) -p crystal_context True
shipped-band_gap: $(STAMP)
	$(call train,band_gap,regression,eV,dft,) -p lower_bound 0.0
shipped-fermi_level: $(STAMP)
	$(call train,fermi_level,regression,eV,dft,)

recalibrate: $(STAMP)  # refit the σ calibrations of the shipped regression models on their saved CV tables (minutes)
	$(call train,formation_energy_per_atom,regression,eV/atom,cgcnn,,00_recalibrate) -p retrain False
	$(call train,log10_bulk_modulus,regression,log10 GPa,cgcnn,,00_recalibrate) -p retrain False
	$(call train,log10_shear_modulus,regression,log10 GPa,cgcnn,,00_recalibrate) -p retrain False
	$(call train,band_gap,regression,eV,dft,,00_recalibrate) -p retrain False
	$(call train,fermi_level,regression,eV,dft,,00_recalibrate) -p retrain False

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

ood: $(STAMP)  # epistemic σ on a family never trained on (NCA-F) vs in-distribution test cells
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/09_ood.ipynb figures/runs/09_ood.ipynb

transfer: $(STAMP)  # DFT properties from scratch vs from the formation-energy trunk
	mkdir -p figures/runs
	$(PAPERMILL) --cwd nbs/study nbs/study/11_transfer.ipynb figures/runs/11_transfer.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest -q tests; rc=$$?; if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi
	$(BIN)/nbdev_test --n_workers 2

export: $(STAMP)
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean
