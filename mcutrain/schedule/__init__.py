"""Scheduling: the static memory plan of the ordered graph (lifetimes, offsets, lower bound)."""
