"""Data and evaluation: SQuAD-style files, conversion, negatives, metrics, predictions and evaluation."""
