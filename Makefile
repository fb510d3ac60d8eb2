# The two commands a fresh machine needs: `make demo` (the main job) and `make test`.
# Both create the virtual environment on first use and are quick once it exists.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.healthcnn-installed

.PHONY: demo test lint bench golden tables clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,bench,yaml,onnx,ecg,medical,explain,serve,browser,track]'
	@touch $@

# The main job: ResNet-18 (28 px stem) on RetinaMNIST from the data root (downloaded, checksum
# verified, when missing), scored on test next to the published MedMNIST v2 row; the model
# bundle goes to runs/demo, calibrate seals its prediction sets and operating points (fitted on
# val) into it, and its HTML model card goes to runs/demo/report.html (inside the bundle:
# a retrain replaces the directory, so a stale report never outlives its model). About 3-4
# minutes on 2 cores.
DEMO_ARGS ?= --data retinamnist --model resnet18 --epochs 20 --schedule multistep \
	--milestones 10,15 --batch-size 128 --lr 0.001 --seed 0 --out runs/demo

demo: $(STAMP)
	$(BIN)/healthcnn train $(DEMO_ARGS)
	$(BIN)/healthcnn calibrate runs/demo
	$(BIN)/healthcnn report runs/demo -o runs/demo/report.html

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

test: lint
	$(BIN)/python -m pytest -n 2 -q

# On a GPU machine: make bench BENCH_ARGS="--device cuda" (the training benchmarks run there)
BENCH_ARGS ?=

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
