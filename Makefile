# Two commands: `make run` starts the whole stack, `make test` runs the whole suite.
# Both install what is missing first, as on a new machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# Superset needs a sqlglot SQLMesh refuses, so it gets a virtualenv of its own.
SUPERSET_VENV := .venv-superset
BIN := $(VENV)/bin
KAFKA_LIBS := kafka/libs

.PHONY: run test install install-stack install-superset java browser kcat lint clean-state

run: install-stack
	$(BIN)/streamsim up $(ARGS)

test: install
	$(BIN)/ruff check streamsim tests
	$(BIN)/ruff format --check streamsim tests
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

# What `make run` needs; the tests need a browser and kcat besides.
install-stack: $(VENV)/.installed java $(KAFKA_LIBS)/.installed install-superset
install-superset: $(SUPERSET_VENV)/.installed
install: install-stack browser kcat

# Java 17 and Maven, through apt when missing: checked on every make, it costs nothing.
java:
	@bash kafka/install-prerequisites.sh

# Debian's Chromium, for the orchestrator page's browser test; apt only when it is missing.
browser:
	@bash tools/install-browser.sh

# Debian's kcat, the raw reader `streamsim bench kcat` measures the sink against.
kcat:
	@bash tools/install-kcat.sh

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { echo "streamsim needs Python 3.11 (found: $(PYTHON)); install it and run make again"; exit 1; }
	@echo "==> creating $(VENV) and installing streamsim with its dependencies (about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar on --upgrade pip
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -e '.[dev,bench]'
	touch $@

$(SUPERSET_VENV)/.installed: superset/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { echo "Superset needs Python 3.11 (found: $(PYTHON))"; exit 1; }
	@echo "==> creating $(SUPERSET_VENV) and installing Apache Superset (a few minutes)"
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --disable-pip-version-check --progress-bar on --upgrade pip
	$(SUPERSET_VENV)/bin/pip install --disable-pip-version-check --progress-bar on -r superset/requirements.txt
	@echo "==> preparing Superset's metadata template (migrations and roles, about a minute)"
	@rm -rf $(SUPERSET_VENV)/template-home && mkdir -m 700 $(SUPERSET_VENV)/template-home
	@$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > $(SUPERSET_VENV)/template-home/secret_key
	STREAMSIM_SUPERSET_HOME=$(CURDIR)/$(SUPERSET_VENV)/template-home \
	  SUPERSET_HOME=$(CURDIR)/$(SUPERSET_VENV)/template-home \
	  SUPERSET_CONFIG_PATH=superset/superset_config.py SCARF_ANALYTICS=false \
	  $(SUPERSET_VENV)/bin/python superset/serve.py template
	rm -rf $(SUPERSET_VENV)/template-home
	touch $@

$(KAFKA_LIBS)/.installed: kafka/pom.xml | java
	@echo "==> resolving the Apache Kafka broker jars from Maven Central"
	mvn -B -ntp -f kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=libs -DincludeScope=runtime
	touch $@

lint: install
	$(BIN)/ruff check streamsim tests
	$(BIN)/mypy

clean-state:
	rm -rf .state
