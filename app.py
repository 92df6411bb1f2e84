"""BERT QA Explorer: ask a question about a paragraph, see how BERT found the answer, fine-tune your own model.

This file only composes the page from its parts (``ui/``, one module per tab) and launches it. Answers
come from ``qa_core.answering``, every figure and table from ``qa_core.explaining``, fine-tuning from
``qa_core.train.jobs`` (in a process of its own); every word on the page from ``assets/text/<language>.json``.

    python app.py                      # http://127.0.0.1:7860
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py
    QA_CHECKPOINTS_DIR=/models python app.py          # another checkpoints folder
    QA_ALLOW_TRAINING=0 python app.py                 # a public demo without the Fine-tune tab's training
    QA_QUEUE_SIZE=8 python app.py                     # turn requests away once 8 wait (default 32)
    QA_INT8=1 python app.py                           # every model in int8: faster on a CPU, EM within a point
"""

import logging
import threading

import gradio as gr

from qa_core.train.jobs import MAX_UPLOAD_BYTES
from ui import ask, fine_tune, inside, language, lecture, lessons, screen, why
from ui.page import CONCURRENCY, DELETE_CACHE, QUEUE_SIZE, SESSIONS, Page, default_model, load_engine
from ui.words import text

with gr.Blocks(title=text("page.title"), delete_cache=DELETE_CACHE) as demo:
    picker = language.render_header()
    page = Page(blocks=demo)
    with gr.Tabs(overflow_behavior="wrap"):  # every tab in sight on a phone; each part also wires its API
        asked = ask.render(page)
        inside.render(page, asked)
        why.render(page, asked)
        lecture.render(page, asked.model_picker)
        runs = lessons.render(page, asked.model_picker)
        fine_tune.render(page, asked.model_picker, runs)
    language.wire(page, picker)


def main() -> None:
    """Serve the page; the default model loads while the server starts, so the first answer is quick."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if default_model():
        threading.Thread(target=load_engine, args=(None,), daemon=True).start()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        max_file_size=MAX_UPLOAD_BYTES, state_session_capacity=SESSIONS, css=screen.CSS
    )


if __name__ == "__main__":
    main()
