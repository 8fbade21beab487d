"""`python -m streamsim.sink`: the sink as a process of its own, stopped by SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from streamsim.bus.topics import BrokerUnreachable
from streamsim.settings import load_settings
from streamsim.sink.consumer import run_sink
from streamsim.sink.lag_samples import start_lag_recorder

log = logging.getLogger(__name__)


def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The client logs every group join and connection at INFO; its warnings still show.
    logging.getLogger("kafka").setLevel(logging.WARNING)


def stop_on_signals(stop: threading.Event) -> None:
    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, landing the current batch and stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def main() -> int:
    """Run the sink until SIGTERM or SIGINT; returns the process exit code."""
    configure_logging()
    stop = threading.Event()
    stop_on_signals(stop)
    settings = load_settings()
    start_lag_recorder(settings, stop)
    try:
        run_sink(settings, stop)
    except BrokerUnreachable as error:
        log.error("%s", error)
        return 1
    return 0
