"""Typed results and their storage."""
