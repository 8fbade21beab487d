import sys

from streamsim.orchestrator.main import main

sys.exit(main())
