"""The SQLMesh project itself: its unit tests pass and every table explains itself."""

from __future__ import annotations

import io

from sqlmesh.core import analytics
from sqlmesh.core.analytics.dispatcher import NoopEventDispatcher

from streamsim.pipeline.project import MODELS, PROJECT_DIR
from streamsim.pipeline.warehouse import open_context
from streamsim.settings import Settings


def test_the_sqlmesh_unit_tests_pass(settings: Settings) -> None:
    report = io.StringIO()
    with open_context(settings) as context:
        result = context.test(stream=report)

    # The views over lake files read Parquet in place, which no unit test can feed; the
    # Python models (reference, quarantined messages) are tested in pytest.
    over_files = {"lake.events", "truth.injected_faults"}
    sql_models = {
        model
        for model in MODELS
        if (PROJECT_DIR / "models" / f"{model.replace('.', '/')}.sql").exists()
    }
    assert result.testsRun >= len(sql_models - over_files), report.getvalue()
    assert result.wasSuccessful(), report.getvalue()


def test_every_model_and_column_has_a_description(settings: Settings) -> None:
    with open_context(settings) as context:
        models = list(context.models.values())

    assert sorted(model.name for model in models) == sorted(MODELS)
    for model in models:
        assert model.description, model.name
        undescribed = set(model.columns_to_types or {}) - set(model.column_descriptions or {})
        assert not undescribed, f"{model.name}: {sorted(undescribed)}"


def test_sqlmesh_sends_no_usage_analytics(settings: Settings) -> None:
    with open_context(settings):
        dispatcher = analytics.collector._dispatcher

    assert isinstance(dispatcher, NoopEventDispatcher)
