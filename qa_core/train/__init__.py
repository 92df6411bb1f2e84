"""Fine-tuning an encoder for extractive QA: the command line, the run, and the app's background jobs.

    python -m qa_core.train --base e5-small-zh-en --train a.json b.json --eval dev.json --out checkpoints/mine

``config`` defines every setting once; ``run`` trains on the transformers Trainer with the
single-purpose callbacks of ``callbacks``; ``jobs`` runs one fine-tuning job at a time for the app.
"""
