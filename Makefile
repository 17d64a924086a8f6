# genhub: `make demo` (set up, make sure a face GAN exists, launch) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED_FACES := ../shared/data/faces_celeba
STARTER := checkpoints/dcgan-faces-64
# The starter GAN trains on the shared CelebA faces when present, else on scikit-image's LFW faces.
STARTER_DATA := $(if $(wildcard $(SHARED_FACES)),$(SHARED_FACES),lfw-subset)
STARTER_STEPS := $(if $(wildcard $(SHARED_FACES)),1200,1500)
STARTER_BATCH := $(if $(wildcard $(SHARED_FACES)),64,16)

.PHONY: install test demo starter bench clean

# torch first and alone (the CPU build); then the pinned requirements; then genhub itself, editable.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q tests

# Speed figures: tables on stdout, JSON in bench/results/ (see bench/*.py; --tiny for a smoke run).
bench: install
	$(PY) bench/bench_training.py
	$(PY) bench/bench_data.py
	$(PY) bench/bench_app.py

# A few minutes on 2 CPU cores: a narrower DCGAN (ngf=ndf=32), bf16.
$(STARTER)/model.safetensors: | install
	$(VENV)/bin/accelerate launch --cpu --num_processes 1 training/train_dcgan.py \
		--dataset $(STARTER_DATA) --resolution 64 --ngf 32 --ndf 32 --mixed_precision bf16 --random_flip \
		--train_batch_size $(STARTER_BATCH) --max_train_steps $(STARTER_STEPS) --checkpointing_steps 500 \
		--checkpoints_total_limit 1 --output_dir $(STARTER)

starter: $(STARTER)/model.safetensors

demo: install starter
	$(PY) app.py --port 7860

clean:
	rm -rf $(VENV) .pytest_cache
