"""Scheduling: operator order (in-place updates) and the static memory plan."""
