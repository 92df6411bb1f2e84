"""The homework's lessons as measured experiments: ``python -m qa_core.tooling.experiments``.

One shared training recipe, one switch changed per run (``plan``), each run trained by the
project's own training code and measured on a fixed evaluation slice (``measure``); the results
are written as one JSON file that the app's Lessons tab draws (``qa_core.explaining.lessons``).
"""
