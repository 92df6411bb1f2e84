"""The Lecture tab through the running app's named API: the similarity matrix, its layers and its CSV."""

from __future__ import annotations

import csv
import json

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from qa_core import checkpoints
from qa_core.files import REPO_ROOT

VIEW = ("sentences", "target", "layer", "heatmap", "separation", "note", "csv")
LAYERS = 2  # the tiny test models
EXAMPLES = json.loads((REPO_ROOT / "assets" / "lecture_examples.json").read_text(encoding="utf-8"))
ENGLISH = next(e for e in EXAMPLES if e["target"] == "bank")
CHINESE = next(e for e in EXAMPLES if e["target"] == "蘋果")


def lecture(url: str, sentences: str, target: str, layer: int = 0, model: str | None = None) -> dict:
    result = Client(url, verbose=False).predict(
        sentences=sentences, target=target, model=model, layer=layer, api_name="/lecture_context"
    )
    return dict(zip(VIEW, result, strict=True))


def layout(plot: dict) -> dict:
    return json.loads(plot["plot"])["layout"]


@pytest.mark.parametrize("model", [checkpoints.DEFAULT_NAME, checkpoints.ENGLISH_NAME])
def test_blank_boxes_compute_the_models_own_example_and_export_every_layer(app_url, model):
    view = lecture(app_url, "", "", model=model)
    # the tiny models know no Chinese, like the shipped English model: their default is the English set
    assert view["target"] == "bank" and view["sentences"] == "\n".join(ENGLISH["sentences"])
    assert view["layer"]["maximum"] == LAYERS and view["layer"]["value"] == 0
    assert "“bank” at input embeddings" in layout(view["heatmap"])["title"]["text"]
    assert layout(view["heatmap"])["yaxis"]["ticktext"][:2] == ["1 river", "2 river"]
    separation = json.loads(view["separation"]["plot"])["data"]
    assert separation[-1]["x"] == list(range(LAYERS + 1)), "one separation per layer"
    with open(view["csv"], encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == (LAYERS + 1) * 10 * 10
    diagonal = [float(r["similarity"]) for r in rows if r["row"] == r["column"]]
    assert diagonal and all(abs(value - 1) < 1e-4 for value in diagonal)
    assert "10 sentences" in view["note"] and f"({LAYERS} layers" in view["note"]


def test_a_layer_beyond_the_model_shows_its_last_layer(app_url):
    view = lecture(app_url, "the cat sat\na cat sat", "cat", layer=40)
    assert view["layer"]["value"] == LAYERS
    assert f"“cat” at layer {LAYERS}" in layout(view["heatmap"])["title"]["text"]
    assert layout(view["separation"])["annotations"], "no groups: the chart says how to label them"


def test_a_sentence_without_the_target_is_refused_with_a_message(app_url):
    with pytest.raises(AppError, match=r"Sentence\(s\) 2 do not contain “cat”"):
        lecture(app_url, "the cat sat\nthe dog sat", "cat")


def test_a_target_the_model_cannot_read_says_to_pick_another(app_url):
    with pytest.raises(AppError, match="does not know “蘋果”"):
        lecture(app_url, "\n".join(CHINESE["sentences"]), "蘋果")


def test_text_where_a_number_belongs_is_refused_by_name(app_url):
    with pytest.raises(AppError, match="layer must be a number"):
        lecture(app_url, "the cat sat\na cat sat", "cat", layer="top")
