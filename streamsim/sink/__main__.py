"""Lets `python -m streamsim.sink` start the sink."""

from streamsim.sink.main import main

raise SystemExit(main())
