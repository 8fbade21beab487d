"""The quality checks on the real stack, scored against the truth, at three error factors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from streamsim.bench.quality import run_stack, stack_env
from streamsim.pipeline.score import Score, score
from streamsim.settings import load_settings

# Short runs: long enough for a few hundred sessions at speed 10 on two shared cores.
RUN_SECONDS = 60
SPEED = 10.0
# Measured share of user messages passing everything may differ from the true clean share by
# this much at f = 0.3: the few faults that cannot be told from clean traffic.
AGREEMENT = 0.02
# Kinds whose message is clean bytes, judged only against neighbours: when the neighbour
# that would show the fault is itself unreadable or skewed, nothing can (docs/data-quality.md).
NEIGHBOUR_KINDS = {"out_of_order", "extra_heartbeat", "missing_heartbeat", "unknown_session_id"}
# At f = 1 every message carries a fault of its own bytes; a made-up session id passes only
# when its user's real session_started lost its id (measured: 4 of 21,256 user messages).
PASSING_AT_ONE = 0.001

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[float, Path]]:
    """One stack run per error factor, one after the other (they would fight for the cores)."""
    runs: dict[float, Path] = {}
    for factor in (0.0, 1.0, 0.3):
        state = tmp_path_factory.mktemp(f"quality-{factor}") / "state"
        run_stack(state, stack_env(state, factor, 3.0, 11), RUN_SECONDS, SPEED)
        runs[factor] = state
    yield runs


def query(state: Path, sql: str) -> list[tuple[object, ...]]:
    serving = load_settings(state_dir=state).serving_path
    with duckdb.connect(str(serving), read_only=True) as db:
        return db.execute(sql).fetchall()


def scored(state: Path) -> Score:
    return score(load_settings(state_dir=state))


def test_without_errors_every_expectation_is_fully_met_and_nothing_quarantined(
    states: dict[float, Path],
) -> None:
    rows = query(
        states[0.0],
        "SELECT expectation, SUM(checked), SUM(passed) FROM quality.compliance GROUP BY 1",
    )
    totals = {str(name): (int(str(checked)), int(str(passed))) for name, checked, passed in rows}
    assert len(totals) == 12
    assert all(checked == passed for checked, passed in totals.values()), totals
    assert query(states[0.0], "SELECT COUNT(*) FROM quality.quarantine") == [(0,)]


def test_with_every_event_broken_hardly_any_user_message_passes_every_expectation(
    states: dict[float, Path],
) -> None:
    state = states[1.0]
    truth = f"read_parquet('{load_settings(state_dir=state).lake_dir}/truth/**/*.parquet')"
    rows = query(
        state,
        f"""
        SELECT t.kind, COUNT(*) FROM quality.event_checks AS c
        LEFT JOIN {truth} AS t ON t.payload_md5 = c.payload_md5 AND t.copy::INT = c.copy
        WHERE c.topic = 'streamsim.user-events' AND c.passed_all
        GROUP BY 1
        """,
    )
    ((user_messages,),) = query(
        state, "SELECT COUNT(*) FROM quality.event_checks WHERE topic = 'streamsim.user-events'"
    )
    passing = {str(kind): int(str(count)) for kind, count in rows}
    assert int(str(user_messages)) > 100
    assert set(passing) <= {"unknown_session_id"}, passing
    assert sum(passing.values()) <= PASSING_AT_ONE * int(str(user_messages)), passing


def test_at_a_third_measured_compliance_agrees_with_the_truth(states: dict[float, Path]) -> None:
    result = scored(states[0.3])
    assert result.user_messages > 1000
    assert abs(result.measured_clean_share - result.true_clean_share) <= AGREEMENT, result


def test_the_score_meets_its_goal(states: dict[float, Path]) -> None:
    result = scored(states[0.3])
    assert result.false_positive_rate <= 0.001, result.as_dict()
    alone = {k.kind: k.recall for k in result.kinds if k.kind not in NEIGHBOUR_KINDS}
    assert len(alone) == 13 and min(alone.values()) >= 0.99, result.as_dict()
    # Measured at f = 0.3: 0.91 to 0.94; they reach 0.99 only where neighbours are clean.
    neighbours = {k.kind: k.recall for k in result.kinds if k.kind in NEIGHBOUR_KINDS}
    assert min(neighbours.values()) >= 0.8, result.as_dict()
