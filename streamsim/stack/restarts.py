"""How often a part may die and be started again before the run gives up on it."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from pathlib import Path

from streamsim.stack.errors import StackError

# A part that a restart would help dies now and then (a kill, a broker restart); one that
# dies this often is failing on every start, and restarting it for ever only hides that.
MAX_RESTARTS = 5
WINDOW_S = 300.0


class RestartBudget:
    """Counts each part's restarts over the last WINDOW_S seconds."""

    def __init__(self, max_restarts: int = MAX_RESTARTS, window_s: float = WINDOW_S) -> None:
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._restarts: defaultdict[str, deque[float]] = defaultdict(deque)

    def spend(self, part: str, log_path: Path | None, now: float | None = None) -> None:
        """Count a restart of `part`, or stop the run when it has used up its budget."""
        moment = time.monotonic() if now is None else now
        recent = self._restarts[part]
        while recent and recent[0] <= moment - self.window_s:
            recent.popleft()
        if len(recent) >= self.max_restarts:
            where = f"; its log: {log_path}" if log_path else ""
            raise StackError(
                f"{part} exited {len(recent) + 1} times within {self.window_s / 60:g} minutes, "
                f"so the run stops instead of starting it again{where}"
            )
        recent.append(moment)
