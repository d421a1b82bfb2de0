# Two commands set everything up on a fresh machine:
#   make install   create .venv, install dlrecipes and its dependencies (MLflow and the export runtimes too, for the tests)
#   make test      run the test suite (offline; set TFDS_DATA_DIR, see README)
#   make fuzz      fuzz `dlrecipes validate` with 5000 mutated recipes (a few minutes)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install test fuzz bench clean

install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,mlflow,export]'
	@# Lists the recipes, and fills the parameter-count cache so later `list`s are instant.
	$(BIN)/dlrecipes list

test:
	$(BIN)/python -m pytest -q

# The suite runs the same fuzz test with 150 cases; FUZZ_EXAMPLES=N for another budget.
FUZZ_EXAMPLES ?= 5000
fuzz:
	DLRECIPES_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

# Several hours on 2 CPU cores (the zoo recipes); each script also runs alone (see bench/*.py).
bench:
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/batch_sizes.py
	$(BIN)/python bench/hardware.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/gan.py
	$(BIN)/python bench/regularization.py
	$(BIN)/python bench/transfer.py
	$(BIN)/python bench/tune.py
	$(BIN)/python bench/export.py

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
