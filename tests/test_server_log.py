"""What the server console shows when it refuses a person's input: one line each, never a traceback.

Gradio prints the traceback of every exception a callback raises, ``gr.Error`` included, unless the
error says ``print_exception=False``; the app logs one line of its own instead.
"""

from __future__ import annotations

import json

import pytest
from app_server import make_checkpoints_root, running_app
from gradio_client import Client
from gradio_client.exceptions import AppError

from qa_core.files import REPO_ROOT

pytestmark = pytest.mark.integration  # starts the app as a server

CONTEXT = json.loads((REPO_ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))[0]["context"]
EMPTY_QUESTION = "The question is empty: type a question about the paragraph."


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> str:
    """The whole log of a server that was sent an empty question through both of its answering endpoints."""
    tmp = tmp_path_factory.mktemp("server_log")
    log_file = tmp / "server.log"
    with running_app(log_file, make_checkpoints_root(tmp / "checkpoints"), QA_ALLOW_TRAINING="0") as url:
        client = Client(url, verbose=False)
        with pytest.raises(AppError, match=EMPTY_QUESTION):
            client.predict(question="", context=CONTEXT, api_name="/answer")
        with pytest.raises(AppError, match=EMPTY_QUESTION):
            client.predict(
                question="   ",
                context=CONTEXT,
                model=None,
                max_length=384,
                doc_stride=128,
                max_answer_length=30,
                n_best=5,
                api_name="/ask",
            )
    return log_file.read_text(encoding="utf-8")


def test_refused_input_prints_no_traceback(server_log):
    assert "Traceback" not in server_log
    assert 'File "' not in server_log


def test_each_refusal_is_one_info_line_with_its_reason(server_log):
    refused = [line for line in server_log.splitlines() if EMPTY_QUESTION in line]
    assert len(refused) == 2, server_log[-3000:]
    assert all(" INFO " in line for line in refused)
