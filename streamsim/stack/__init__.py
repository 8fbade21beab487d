"""The launcher: starts every part of the stack, watches it, and stops it cleanly."""
