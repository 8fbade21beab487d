"""Superset over the warehouse: its process, and its dashboards provisioned as code."""
