# Two commands a newcomer needs: `make demo` and `make test`. Only python3 is assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-ingest bench-tui clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/smsdesk demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/store.py

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-tui: $(STAMP)
	$(BIN)/python bench/tui.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
