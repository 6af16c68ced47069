"""Datasets, shared feature code, media decoding (decode.py) and writing (encode.py)."""
