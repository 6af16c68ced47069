"""Datasets, shared feature code and media decoding."""
