# Two commands: `make run` starts the whole stack, `make test` runs the whole suite.
# Both install what is missing first, as on a new machine.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KAFKA_LIBS := kafka/libs

.PHONY: run test install browser lint clean-state

run: install
	$(BIN)/streamsim up $(ARGS)

test: install
	$(BIN)/ruff check streamsim tests
	$(BIN)/ruff format --check streamsim tests
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed $(KAFKA_LIBS)/.installed browser

# Debian's Chromium, for the orchestrator page's browser test; apt only when it is missing.
browser:
	@bash tools/install-browser.sh

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "streamsim needs $(PYTHON): install Python 3.11 and run make again"; exit 1; }
	@echo "==> creating $(VENV) and installing streamsim with its dependencies (about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar on --upgrade pip
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	touch $@

$(KAFKA_LIBS)/.installed: kafka/pom.xml
	@bash kafka/install-prerequisites.sh
	@echo "==> resolving the Apache Kafka broker jars from Maven Central"
	mvn -B -ntp -f kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=libs -DincludeScope=runtime
	touch $@

lint: install
	$(BIN)/ruff check streamsim tests
	$(BIN)/mypy

clean-state:
	rm -rf .state
