"""Simulated users: one independent instance per `POST /users`, living its own session."""
