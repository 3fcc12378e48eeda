"""Retraining a zoo (or hub) classifier on a user's images: `edgebench retrain`."""
