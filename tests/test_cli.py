"""The `streamsim` command explains a problem the user can fix in one line on stderr."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from streamsim.stack.processes import free_port

STREAMSIM = Path(sys.executable).parent / "streamsim"
MACHINE_SETTINGS = ("KAFKA_BOOTSTRAP_SERVERS", "RAY_ADDRESS", "STREAMSIM_")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def streamsim(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run the command from a folder of the test's own, with none of the machine's settings.

    Every port the command could touch is a free loopback one, never a default that the
    person running the tests may be using.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(MACHINE_SETTINGS)}
    ports = {
        "STREAMSIM_PIPELINE__PORT": str(free_port()),
        "STREAMSIM_ORCHESTRATOR__PORT": str(free_port()),
        "STREAMSIM_KAFKA__PORT": str(free_port()),
        "STREAMSIM_KAFKA__CONTROLLER_PORT": str(free_port()),
        "STREAMSIM_RAY__PORT": str(free_port()),
        "STREAMSIM_RAY__DASHBOARD_PORT": str(free_port()),
        "STREAMSIM_USERS__PORT": str(free_port()),
        "STREAMSIM_SERVERS__ROUTER_PORT": str(free_port()),
    }
    return subprocess.run(
        [str(STREAMSIM), "--state-dir", str(tmp_path / "state"), *args],
        env={**clean, **ports, **(env or {})},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("streamsim: ")
    return lines[0]


def started_nothing(state: Path) -> bool:
    """Every child the launcher starts logs to a file of its own beside `up.log`."""
    logs = state / "logs"
    return (
        sorted(p.name for p in logs.iterdir()) == ["up.log"] and not (state / "stack.json").exists()
    )


@pytest.mark.timeout(60)
def test_up_with_a_taken_port_says_so_in_one_line_and_starts_nothing(
    tmp_path: Path, taken_port: int
) -> None:
    done = streamsim(tmp_path, "up", env={"STREAMSIM_ORCHESTRATOR__PORT": str(taken_port)})

    line = one_error_line(done)
    assert f"127.0.0.1:{taken_port}" in line
    assert "STREAMSIM_ORCHESTRATOR__PORT" in line
    assert started_nothing(tmp_path / "state")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_up_with_an_unreachable_kafka_cluster_names_the_broker_in_one_line(
    tmp_path: Path,
) -> None:
    broker = f"127.0.0.1:{free_port()}"  # nothing listens there

    done = streamsim(tmp_path, "up", env={"KAFKA_BOOTSTRAP_SERVERS": broker}, timeout_s=150)

    line = one_error_line(done)
    assert broker in line
    assert "KAFKA_BOOTSTRAP_SERVERS" in line
    assert started_nothing(tmp_path / "state")


@pytest.mark.timeout(60)
def test_up_with_speed_zero_names_the_invalid_setting(tmp_path: Path) -> None:
    line = one_error_line(streamsim(tmp_path, "up", "--speed", "0"))

    assert line.startswith("streamsim: invalid setting: speed")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--speed", "inf"), "invalid setting: speed: Input should be a finite number"),
        (("--duration", "nan"), "--duration must be a positive number"),
    ],
)
def test_up_refuses_an_endless_speed_or_duration_in_one_line(
    tmp_path: Path, args: tuple[str, str], said: str
) -> None:
    line = one_error_line(streamsim(tmp_path, "up", *args))

    assert line.startswith(f"streamsim: {said}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("where", "said"),
    [("a-folder", "is a folder"), ("a-file/summary.json", "cannot write under")],
)
def test_up_refuses_a_summary_path_it_could_not_write_before_starting_anything(
    tmp_path: Path, where: str, said: str
) -> None:
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("not a folder")

    done = streamsim(tmp_path, "up", "--duration", "5", "--summary-json", str(tmp_path / where))

    assert said in one_error_line(done)
    assert not (tmp_path / "state").exists()  # refused before the run made its folder


@pytest.mark.timeout(60)
def test_a_rate_of_infinity_in_the_environment_is_refused(tmp_path: Path) -> None:
    done = streamsim(tmp_path, "sql", "SELECT 1", env={"STREAMSIM_ORCHESTRATOR__MAX_RATE": "inf"})

    assert "orchestrator.max_rate: Input should be a finite number" in one_error_line(done)


@pytest.mark.timeout(60)
def test_a_bad_setting_in_the_environment_is_one_line_too(tmp_path: Path) -> None:
    done = streamsim(tmp_path, "sql", "SELECT 1", env={"STREAMSIM_SERVERS__CAPACITY": "0"})

    assert one_error_line(done).startswith("streamsim: invalid setting: servers.capacity")


@pytest.mark.timeout(60)
def test_a_table_setting_that_is_not_json_is_one_line_naming_the_part(tmp_path: Path) -> None:
    done = streamsim(tmp_path, "status", env={"STREAMSIM_USERS__FAULT_WEIGHTS": "not json"})

    line = one_error_line(done)
    assert line.startswith("streamsim: invalid setting:")
    assert '"users"' in line and "Expecting value" in line


@pytest.mark.timeout(60)
def test_sql_without_a_warehouse_says_so_in_one_line(tmp_path: Path) -> None:
    line = one_error_line(streamsim(tmp_path, "sql", "SELECT 1"))

    assert "no warehouse" in line


def serving_copy(tmp_path: Path) -> None:
    path = tmp_path / "state" / "warehouse" / "serving.duckdb"
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE videos AS SELECT 'v1' AS video_id, 12 AS plays")


@pytest.mark.timeout(60)
def test_sql_that_fails_says_query_failed_in_one_line(tmp_path: Path) -> None:
    serving_copy(tmp_path)

    line = one_error_line(streamsim(tmp_path, "sql", "SELEC"))

    assert line.startswith("streamsim: query failed")


@pytest.mark.timeout(60)
def test_sql_prints_the_rows_it_reads_from_the_serving_copy(tmp_path: Path) -> None:
    serving_copy(tmp_path)

    done = streamsim(tmp_path, "sql", "SELECT video_id, plays FROM videos", "--json")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[{"video_id": "v1", "plays": 12}]'


@pytest.mark.parametrize(
    ("argv", "state_dir"),
    [
        (["--state-dir", "before", "up"], Path("before")),
        (["up", "--state-dir", "after"], Path("after")),
        (["--state-dir", "before", "status", "--state-dir", "after"], Path("after")),
        (["sql", "SELECT 1"], None),
    ],
)
def test_the_state_folder_may_be_given_before_or_after_the_command(
    argv: list[str], state_dir: Path | None
) -> None:
    from streamsim.cli import parser

    assert parser(with_benchmarks=False).parse_args(argv).state_dir == state_dir


def test_config_takes_the_state_folder_after_its_action_too() -> None:
    from streamsim.cli import parser

    args = parser(with_benchmarks=False).parse_args(["config", "get", "--state-dir", "after"])

    assert args.state_dir == Path("after")


@pytest.mark.parametrize(
    ("option", "value", "refusal"),
    [
        ("--error-factor", "2", "--error-factor must be from 0 to 1"),
        ("--duration", "0", "--duration must be a positive number"),
        ("--max-rate", "-1", "--max-rate must be 0 or more"),
        ("--keep", __file__, "is not a folder"),
    ],
)
def test_bench_quality_refuses_bad_options_before_starting_a_stack(
    option: str, value: str, refusal: str
) -> None:
    from streamsim.bench.quality import check_options
    from streamsim.cli import parser
    from streamsim.errors import StreamsimError

    args = parser().parse_args(["bench", "quality", option, value])

    with pytest.raises(StreamsimError, match=refusal):
        check_options(args)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("command", "flag"),
    [(["locust", "--seconds", "nan"], "--seconds"), (["stack", "--peak", "inf"], "--peak")],
)
def test_a_bench_refuses_nan_or_infinity_before_it_starts(command: list[str], flag: str) -> None:
    from streamsim.cli import parser, refuse_endless_numbers
    from streamsim.errors import StreamsimError

    args = parser().parse_args(["bench", *command])

    with pytest.raises(StreamsimError, match=f"^{flag} must be a finite number"):
        refuse_endless_numbers(args)
