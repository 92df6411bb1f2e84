"""The Lecture tab through the running app's named API: the similarity matrix, its layers and its CSV."""

from __future__ import annotations

import csv
import json

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from test_lecture_arithmetic import PAIRS

from qa_core.files import REPO_ROOT
from qa_core.models import checkpoints

pytestmark = pytest.mark.integration  # starts the app as a server

VIEW = ("sentences", "target", "layer", "heatmap", "separation", "note", "csv")
LAYERS = 2  # the tiny test models
EXAMPLES = json.loads((REPO_ROOT / "assets" / "lecture_examples.json").read_text(encoding="utf-8"))[
    "contexts"
]
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


ARITHMETIC_VIEW = ("pairs", "layer", "accuracy", "table", "note", "csv")


def arithmetic(url: str, pairs: str, layer: int = 0, model: str | None = None) -> dict:
    result = Client(url, verbose=False).predict(
        pairs=pairs, model=model, layer=layer, api_name="/lecture_arithmetic"
    )
    return dict(zip(ARITHMETIC_VIEW, result, strict=True))


def test_word_pairs_give_both_directions_shifted_and_raw_and_export_every_layer(app_url):
    pairs = "\n".join(f"{c} {e}" for c, e in PAIRS) + "\n貓 cat"
    view = arithmetic(app_url, pairs, layer=40)
    assert view["layer"]["maximum"] == LAYERS and view["layer"]["value"] == LAYERS
    plot = json.loads(view["accuracy"]["plot"])
    assert [trace["name"] for trace in plot["data"]] == [
        "shifted by the mean difference",
        "raw vector (baseline)",
    ]
    assert f"at layer {LAYERS}" in plot["layout"]["title"]["text"]
    held = len(PAIRS) - round(0.75 * len(PAIRS))
    rows = view["table"]["data"]
    assert len(rows) == 2 * held and {row[0] for row in rows} == {"English → Chinese", "Chinese → English"}
    assert f"the other {held} are held out" in view["note"] and "貓 cat." in view["note"]
    with open(view["csv"], encoding="utf-8-sig", newline="") as f:
        ranks = [int(r["rank"]) for r in csv.DictReader(f)]
    assert len(ranks) == (LAYERS + 1) * 2 * 2 * held and min(ranks) >= 1


def test_blank_pairs_run_the_example_list_and_a_model_without_its_chinese_says_it_cannot(app_url):
    with pytest.raises(AppError, match="cannot run this view on these words"):
        arithmetic(app_url, "", model=checkpoints.ENGLISH_NAME)


def test_text_where_the_arithmetic_layer_belongs_is_refused_by_name(app_url):
    with pytest.raises(AppError, match="layer must be a number"):
        arithmetic(app_url, "貓 cat", layer="top")


def test_word_pairs_are_projected_with_both_languages_at_the_chosen_layer(app_url):
    result = Client(app_url, verbose=False).predict(
        pairs="\n".join(f"{c} {e}" for c, e in PAIRS), model=None, layer=1, api_name="/lecture_projection"
    )
    view = dict(zip(("pairs", "layer", "plot", "note", "csv"), result, strict=True))
    plot = json.loads(view["plot"]["plot"])
    assert [trace["name"] for trace in plot["data"]] == ["translation", "Chinese", "English"]
    assert "Word pairs at layer 1" in plot["layout"]["title"]["text"]
    assert view["layer"]["maximum"] == LAYERS and f"{len(PAIRS)} pairs" in view["note"]
    with open(view["csv"], encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.DictReader(f))) == (LAYERS + 1) * 2 * len(PAIRS)


SAME = ("note", "first_matrix", "second_matrix", "csv")


def test_one_question_in_two_forms_draws_two_span_matrices_and_exports_both_lists(app_url):
    paragraph = "the cat sat on the mat in paris"
    result = Client(app_url, verbose=False).predict(
        context=paragraph,
        first="where is the cat?",
        second="where is the cat?",
        model=checkpoints.ENGLISH_NAME,
        api_name="/lecture_same_question",
    )
    view = dict(zip(SAME, result, strict=True))
    assert "the same span" in view["note"] and checkpoints.ENGLISH_NAME in view["note"]
    for side in ("first_matrix", "second_matrix"):
        assert layout(view[side])["title"]["text"].startswith("Span scores in window 1")
    with open(view["csv"], encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["question"] for r in rows} == {"where is the cat?"} and len(rows) >= 2


def test_a_blank_question_of_the_pair_is_refused_by_name(app_url):
    with pytest.raises(AppError, match="The question is empty"):
        Client(app_url, verbose=False).predict(
            context="the cat sat", first="where?", second="  ", model=None, api_name="/lecture_same_question"
        )
