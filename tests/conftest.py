from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP threads that wait for
# each other turn milliseconds into seconds. Subprocesses (the app under test) inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import make_tiny_bert, make_tiny_unigram_bert  # noqa: E402


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> Iterator[str]:
    """One running app over tiny random models, training switched off, shared by the modules that browse it."""
    from app_server import make_checkpoints_root, running_app

    tmp = tmp_path_factory.mktemp("shared_app")
    with running_app(
        tmp / "server.log", make_checkpoints_root(tmp / "checkpoints"), QA_ALLOW_TRAINING="0"
    ) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_unigram_dir(tmp_path_factory) -> Path:
    return make_tiny_unigram_bert(tmp_path_factory.mktemp("tiny_unigram"))


@pytest.fixture(scope="session", params=["wordpiece", "unigram"])
def tiny_model_dir(request, tiny_bert_dir, tiny_unigram_dir) -> Path:
    """Both tokenizer families: BERT WordPiece with segments, and XLM-R style SentencePiece."""
    return tiny_bert_dir if request.param == "wordpiece" else tiny_unigram_dir
