"""Model folders: finding them, loading them once, int8, and what is written beside the weights (card, curve)."""
