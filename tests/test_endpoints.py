"""The page's public API: every endpoint keeps its name, its inputs and its outputs as client programs know them."""

from __future__ import annotations

from pathlib import Path

# name -> (parameter names, output components), as gradio_client lists them
ENDPOINTS = {
    "/ask": (("question", "context", "model", "max_length", "doc_stride", "max_answer_length", "n_best", "use_max_context", "null_threshold", "answer_threshold"), ("Highlightedtext", "Markdown", "Dataframe", "Plot", "Plot")),
    "/why_spans": ((), ("Dropdown", "Dropdown")),
    "/why_cell": (("start", "end"), ("Dropdown",)),
    "/explain": (("span", "contrast", "method", "steps", "layer", "head", "hide_special"), ("Slider", "Slider", "Plot", "Dataframe", "Highlightedtext", "Plot", "Plot", "Plot", "Plot", "Downloadbutton", "Downloadbutton", "Downloadbutton")),
    "/lecture_context": (("sentences", "target", "model", "layer"), ("Textbox", "Textbox", "Slider", "Plot", "Plot", "Markdown", "Downloadbutton")),
    "/lecture_arithmetic": (("pairs", "model", "layer"), ("Textbox", "Slider", "Plot", "Dataframe", "Markdown", "Downloadbutton")),
    "/lecture_projection": (("pairs", "model", "layer"), ("Textbox", "Slider", "Plot", "Markdown", "Downloadbutton")),
    "/lecture_same_question": (("context", "first", "second", "model"), ("Markdown", "Plot", "Plot", "Downloadbutton")),
    "/lessons_windows": (("data_file", "number", "model", "max_length", "draws"), ("Plot", "Plot", "Markdown")),
    "/confidence": (("data_file", "model", "questions", "share"), ("Slider", "Markdown", "Plot", "Plot")),
    "/compare_runs": (("chosen",), ("Plot", "Downloadbutton")),
    "/answer": (("question", "context", "model"), ("Api",)),
    "/models": (("current",), ("Dropdown",)),
    "/fine_tune": (("name", "base", "data_file", "max_steps", "epochs", "learning_rate", "batch_size", "max_length", "doc_stride", "placement", "schedule"), ("Markdown", "Timer")),
    "/compare_placements": (("name", "base", "data_file", "max_steps", "learning_rate", "batch_size", "max_length", "doc_stride", "schedule"), ("Markdown", "Timer")),
    "/cancel_fine_tune": ((), ("Markdown",)),
}


def test_every_public_endpoint_keeps_its_name_inputs_and_outputs():
    import app  # declares the page only: no model is loaded

    info = app.demo.get_api_info()["named_endpoints"]
    found = {
        name: (
            tuple(p["parameter_name"] for p in endpoint["parameters"]),
            tuple(r["component"] for r in endpoint["returns"]),
        )
        for name, endpoint in info.items()
    }
    assert found == ENDPOINTS


def test_csv_downloads_share_one_folder_that_drops_stale_files(tmp_path, monkeypatch):
    """No folder per server or per import: one folder, and a download older than Gradio's copies is dropped."""
    import os

    import pandas as pd

    import app
    from ui import page

    assert app.demo.delete_cache == page.DELETE_CACHE
    monkeypatch.setattr(page, "CSV_DIR", tmp_path / "csv")
    first = page.write_csv("lens", "abc", pd.DataFrame({"token": ["台"], "score": [1.0]}))
    assert Path(first).read_text(encoding="utf-8-sig") == "token,score\n台,1.0\n"
    old = os.path.getmtime(first) - page.DELETE_CACHE[1] - 1
    os.utime(first, (old, old))
    second = page.write_csv("attention", "def", pd.DataFrame({"x": [1]}))
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [os.path.basename(second)]
