"""`streamsim bench kcat`: the sink and kcat read the same pre-filled topic whole."""

from __future__ import annotations

import shutil

import pytest

from streamsim.bench import kcat
from streamsim.cli import parser
from streamsim.errors import StreamsimError


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat missing: `make kcat` installs it")
def test_both_read_every_message_and_the_ratio_follows() -> None:
    options = parser().parse_args(["bench", "kcat", "--events", "3000"])

    result = kcat.run(None, options)

    assert result["kcat"]["events_per_s"] > 0 and result["sink"]["events_per_s"] > 0
    expected = result["kcat"]["events_per_s"] / result["sink"]["events_per_s"]
    assert result["kcat_over_sink"] == pytest.approx(expected, abs=0.01)
    assert result["sink"]["cpu_s"] > 0


@pytest.mark.timeout(10)
def test_a_missing_kcat_is_named_with_its_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kcat.shutil, "which", lambda _: None)

    with pytest.raises(StreamsimError, match="make kcat"):
        kcat.kcat_binary()
