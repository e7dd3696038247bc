# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
SEED   ?= 1

.PHONY: demo test docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	@echo "installing aihep into $(VENV) (log: $(VENV)/install.log)"
	@$(PIP) -e ".[test]" > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	$(BIN)/python -c "import aihep, pythia8mc, fastjet"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/aihep demo --out runs/demo --seed $(SEED)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

docs: $(VENV)/.installed
	$(PIP) -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site
