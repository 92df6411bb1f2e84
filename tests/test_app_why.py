"""The "why this span" tab through the running app's named API: every view renders, exports are valid CSV."""

from __future__ import annotations

import csv
import json

import pytest
from app_server import make_checkpoints_root, running_app
from gradio_client import Client
from gradio_client.exceptions import AppError

from qa_core.files import REPO_ROOT
from qa_core.models import checkpoints

pytestmark = pytest.mark.integration  # starts the app as a server

EXAMPLES = {
    e["label"]: e for e in json.loads((REPO_ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
}
LONG = EXAMPLES["長段落 (3+ windows): 茶的歷史"]
VIEW = ("layer", "head", "lens", "lens_table", "text", "attribution", "contrast", "overview", "attention")
CSVS = ("csv_lens", "csv_attribution", "csv_attention")
LAYERS, HEADS = 2, 2  # the tiny test models


def ask(url: str, model: str | None = None) -> tuple[Client, list[tuple[str, str]]]:
    """A fresh session that asked the long example; the spans it offers to explain."""
    client = Client(url, verbose=False)
    client.predict(
        question=LONG["question"],
        context=LONG["context"],
        model=model,
        max_length=128,
        doc_stride=32,
        max_answer_length=30,
        n_best=5,
        api_name="/ask",
    )
    spans, contrast = client.predict(api_name="/why_spans")
    assert [c[1] for c in contrast["choices"]] == ["", *(c[1] for c in spans["choices"])]
    return client, [tuple(c) for c in spans["choices"]]


def explain(client: Client, span: str, contrast: str = "", method: str = "gradient x input") -> dict:
    result = client.predict(
        span=span,
        contrast=contrast,
        method=method,
        steps=8,
        layer=LAYERS,
        head=1,
        hide_special=True,
        api_name="/explain",
    )
    return dict(zip(VIEW + CSVS, result, strict=True))


def rows(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def title(plot: dict) -> str:
    return json.loads(plot["plot"])["layout"]["title"]["text"].replace("<br>", " ")


@pytest.mark.parametrize("model", [checkpoints.DEFAULT_NAME, checkpoints.ENGLISH_NAME])
def test_every_view_of_the_answer_renders_and_exports_its_numbers(app_url, model):
    session, spans = ask(app_url, model)
    assert len(spans) == 5 and spans[0][0].startswith("1. “")
    view = explain(session, spans[0][1])
    assert "after every layer" in title(view["lens"]) and "attention" in title(view["overview"])
    assert title(view["attention"]) == f"Layer {LAYERS}, head 1: attention"
    assert view["layer"]["maximum"] == LAYERS and view["head"]["maximum"] == HEADS
    assert [r[0] for r in view["lens_table"]["data"]] == ["embeddings", "layer 1", "layer 2"]
    assert any(
        isinstance(score, float)
        for _, score in [(t["token"], t["class_or_confidence"]) for t in view["text"]]
    )
    attribution = rows(view["csv_attribution"])
    tokens = len(attribution)
    assert {"position", "token", "role", "contribution"} <= set(attribution[0])
    assert len(rows(view["csv_lens"])) == (LAYERS + 1) * tokens
    assert len(rows(view["csv_attention"])) == LAYERS * HEADS * tokens


def test_an_nbest_row_and_its_span_matrix_cell_give_the_same_attribution(app_url):
    session, spans = ask(app_url)
    window, start, end = (int(x) for x in spans[0][1].split("/"))
    cell = session.predict(start=start, end=end, api_name="/why_cell")
    assert cell["value"] == spans[0][1], "the answer's cell is the answer's n-best row"
    from_row, from_cell = explain(session, spans[0][1]), explain(session, cell["value"])
    assert rows(from_row["csv_attribution"]) == rows(from_cell["csv_attribution"])


def test_why_this_span_and_not_that_one(app_url):
    session, spans = ask(app_url)
    view = explain(session, spans[0][1], contrast=spans[1][1], method="integrated gradients")
    assert "and not" in title(view["contrast"])
    subtitle = json.loads(view["attribution"]["plot"])["layout"]["title"]["subtitle"]["text"]
    assert "integrated gradients" in subtitle and "8 steps" in subtitle


def test_the_readme_call_explains_with_only_span_method_and_steps(app_url):
    session, spans = ask(app_url)
    result = session.predict(span=spans[0][1], method="integrated gradients", steps=16, api_name="/explain")
    assert len(result) == len(VIEW + CSVS) and rows(result[-2])


def test_explaining_before_asking_says_what_to_do(app_url):
    with pytest.raises(AppError, match="Ask a question on the"):
        explain(Client(app_url, verbose=False), "0/5/6")


def test_an_int8_server_shows_lens_and_attention_and_says_why_there_is_no_attribution(tmp_path):
    root = make_checkpoints_root(tmp_path / "checkpoints")
    with running_app(tmp_path / "server.log", root, QA_ALLOW_TRAINING="0", QA_INT8="1") as url:
        session, spans = ask(url)
        view = explain(session, spans[0][1])
    assert "after every layer" in title(view["lens"]) and len(rows(view["csv_attention"])) > 0
    message = json.loads(view["attribution"]["plot"])["layout"]["annotations"][0]["text"]
    assert "int8" in message and view["csv_attribution"] is None
