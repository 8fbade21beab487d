"""The orchestrator: creates users at a rate that follows a sine wave."""
