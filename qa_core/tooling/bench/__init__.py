"""The benchmark of the engine against the transformers question-answering pipeline.

    python -m qa_core.tooling.bench --setup-baseline          # once: a venv with transformers==4.57.6
    python -m qa_core.tooling.bench [--checkpoint DIR] [--int8] [--questions 500] [--out bench.json]

``run`` measures and reports; ``pipeline_worker`` is the pipeline's side, run as a script under the
baseline's own Python.
"""
