"""Where the project's own files are: the Kafka jars, the SQLMesh project, dagster_home."""

from pathlib import Path

# streamsim is installed in editable mode from its checkout (`make` does so), so the
# project's non-Python folders sit beside the package.
REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_DIR = REPO_ROOT / "kafka"
SQLMESH_DIR = REPO_ROOT / "sqlmesh"
DAGSTER_HOME_TEMPLATE = REPO_ROOT / "dagster_home"
