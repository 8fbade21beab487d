"""The `streamsim` command: `up`, `status`, `sql`, and the parts `up` runs as processes."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from streamsim.settings import Settings, load_settings

STATE_DIR_HELP = "where data and logs live (.state)"


def parser(with_benchmarks: bool = True) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="streamsim", description=__doc__)
    root.add_argument("--state-dir", type=Path, help=STATE_DIR_HELP)
    commands = root.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the whole stack and run the simulation")
    up.add_argument("--speed", type=float, help="site seconds per real second (1)")
    up.add_argument("--duration", type=float, help="stop by itself after this many real seconds")
    up.add_argument("--summary-json", type=Path, help="also write the run summary here")

    status = commands.add_parser("status", help="health of each part of a running stack")
    status.add_argument("--json", action="store_true", help="print JSON")

    sql = commands.add_parser("sql", help="query the warehouse (its read-only serving copy)")
    sql.add_argument("query", help='for example "SELECT count(*) FROM staging.events"')
    sql.add_argument("--json", action="store_true", help="print JSON rows")

    config = commands.add_parser("config", help="read or change the wave of a running stack")
    actions = config.add_subparsers(dest="action", required=True)
    actions.add_parser("get", help="print the settings in force as JSON")
    change = actions.add_parser("set", help="change settings, e.g. max_rate=50 period_s=120")
    change.add_argument("assignments", nargs="+", metavar="key=value")

    if with_benchmarks:
        add_bench_commands(commands)
    else:
        commands.add_parser("bench", help="measure a part; prints JSON (see `bench --help`)")

    commands.add_parser("sink", help="(run by `up`) the Kafka to Parquet sink")
    commands.add_parser("orchestrator", help="(run by `up`) the user-spawning orchestrator")
    accept_state_dir_after_the_command(commands)
    return root


def accept_state_dir_after_the_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """`streamsim up --state-dir X` too: `make run ARGS=...` can only add words after `up`."""
    for command in commands.choices.values():
        # SUPPRESS: when absent here, the value given before the command (or None) stays.
        command.add_argument(
            "--state-dir", type=Path, default=argparse.SUPPRESS, help=STATE_DIR_HELP
        )
        for action in command._actions:  # `config get`, `config set` and the benchmarks
            if isinstance(action, argparse._SubParsersAction):
                accept_state_dir_after_the_command(action)


def add_bench_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from streamsim.bench import available

    bench = commands.add_parser("bench", help="measure a part; prints JSON")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True)
    for name, module in sorted(available().items()):
        # Each option shows its default, so a figure can be reproduced from --help alone.
        described = argparse.ArgumentDefaultsHelpFormatter
        module.add_options(
            benchmarks.add_parser(name, help=module.DESCRIPTION, formatter_class=described)
        )


def refuse_endless_numbers(args: argparse.Namespace) -> None:
    """No bench means anything by nan or inf seconds, users or rates; each checks the rest."""
    from streamsim.errors import StreamsimError

    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            flag = "--" + name.replace("_", "-")
            raise StreamsimError(f"{flag} must be a finite number, not {value}")


def run_bench(args: argparse.Namespace) -> int:
    from streamsim.bench import available

    refuse_endless_numbers(args)
    result = available()[args.benchmark].run(settings_from(args), args)
    print(json.dumps(result, indent=2, default=str))
    return 0


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if args.state_dir is not None:
        overrides["state_dir"] = args.state_dir
    if getattr(args, "speed", None) is not None:
        overrides["speed"] = args.speed
    return load_settings(**overrides)


def check_writable(path: Path, option: str) -> None:
    """Refuse before a run a file its end could not write (the summary would be lost)."""
    if path.is_dir():
        raise SystemExit(f"streamsim: {option} {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise SystemExit(f"streamsim: {option} {path} cannot be written")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise SystemExit(f"streamsim: {option} {path}: cannot write under {folder}")


def run_up(args: argparse.Namespace) -> int:
    from streamsim.stack.up import up

    if args.duration is not None and not 0 < args.duration < math.inf:
        raise SystemExit("streamsim: --duration must be a positive number of seconds")
    if args.summary_json is not None:
        check_writable(args.summary_json, "--summary-json")
    settings = settings_from(args)
    now = time.time()
    settings = settings.model_copy(
        update={"run_id": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), "site_origin": now}
    )
    settings.state.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=settings.logs_dir / "up.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The run's own story, not its libraries': SQLMesh logs each statement of the last
    # model pass at INFO (and sqlglot a line per list index it reads), which would bury the
    # lines about the stack.
    for library in ("kafka", "sqlmesh", "sqlglot"):
        logging.getLogger(library).setLevel(logging.WARNING)
    return up(settings, args.duration, args.summary_json)


def run_status(args: argparse.Namespace) -> int:
    from streamsim.stack.record import read_stack_record, settings_of_running_stack
    from streamsim.stack.status import collect, render

    settings = settings_from(args)
    stack = read_stack_record(settings)
    if stack is None:
        not_running = f"streamsim is not running with the state folder {settings.state}"
        if args.json:
            print(json.dumps({"healthy": False, "running": False, "detail": not_running}))
        else:
            print(f"{not_running} (start it with `make run`, or give --state-dir)")
        return 1
    report = collect(settings_of_running_stack(settings, stack), stack)
    print(render(report, args.json))
    return 0 if all(h.healthy for h in report) else 1


def run_sql(args: argparse.Namespace) -> int:
    from streamsim.warehouse_query import query, render_rows

    settings = settings_from(args)
    columns, rows = query(settings, args.query)
    print(render_rows(columns, rows, as_json=args.json))
    return 0


def run_config(args: argparse.Namespace) -> int:
    from streamsim.orchestrator.client import get_config, set_config
    from streamsim.stack.record import read_stack_record, settings_of_running_stack

    settings = settings_from(args)
    stack = read_stack_record(settings)
    orchestrator = (settings_of_running_stack(settings, stack) if stack else settings).orchestrator
    if args.action == "get":
        answer = get_config(orchestrator)
    else:
        answer = set_config(orchestrator, args.assignments)
    print(json.dumps(answer, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from streamsim.errors import StreamsimError

    arguments = list(sys.argv[1:] if argv is None else argv)
    # The benchmarks import Ray and more; only a `bench` command pays for loading them.
    args = parser(with_benchmarks="bench" in arguments).parse_args(arguments)
    try:
        if args.command == "up":
            return run_up(args)
        if args.command == "status":
            return run_status(args)
        if args.command == "sql":
            return run_sql(args)
        if args.command == "bench":
            return run_bench(args)
        if args.command == "config":
            return run_config(args)
        if args.command == "sink":
            from streamsim.sink import main as sink_main

            return sink_main()
        from streamsim.orchestrator.main import main as orchestrator_main

        return orchestrator_main()
    except (StreamsimError, ValidationError, SettingsError, tomllib.TOMLDecodeError) as error:
        print(f"streamsim: {one_line(error)}", file=sys.stderr)
        return 1


def one_line(error: Exception) -> str:
    if isinstance(error, tomllib.TOMLDecodeError):
        return f"the settings file is not valid TOML: {error}"
    if isinstance(error, SettingsError):
        # Raised for a value that is not JSON where a table is expected; its own text names
        # the part but not the variable, and the cause says what was wrong with the value.
        return f"invalid setting: {error} ({error.__cause__ or 'unreadable value'})"
    if isinstance(error, ValidationError):
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        return "invalid setting: " + "; ".join(problems)
    return str(error)
