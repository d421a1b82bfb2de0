# Two commands set everything up on a fresh machine:
#   make install   create .venv, install dlrecipes and its dependencies
#   make test      run the test suite (offline; set TFDS_DATA_DIR, see README)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install test bench clean

install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@# Lists the recipes, and fills the parameter-count cache so later `list`s are instant.
	$(BIN)/dlrecipes list

test:
	$(BIN)/python -m pytest -q

# Several hours on 2 CPU cores (the zoo recipes); each script also runs alone (see bench/*.py).
bench:
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/hardware.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/gan.py
	$(BIN)/python bench/regularization.py
	$(BIN)/python bench/transfer.py

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
