"""Streaming servers: each holds up to `capacity` streams; a router spreads new streams."""
