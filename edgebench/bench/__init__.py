"""The timing loop and what is derived from its samples."""
