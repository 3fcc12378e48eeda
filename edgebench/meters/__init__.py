"""Energy meters behind one protocol; see base.py."""
