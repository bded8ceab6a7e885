"""Placeholder, filled in by the saga issue."""
