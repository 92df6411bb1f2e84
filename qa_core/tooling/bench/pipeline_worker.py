"""The baseline for ``qa_core.tooling.bench``: the transformers question-answering pipeline, in its own process.

transformers 5 removed the pipeline, so this file runs under a separate Python that has
``transformers==4.57.6`` (see ``qa_core.tooling.bench --setup-baseline``). It imports nothing from qa_core
(that Python has none of its requirements) and is started as a file, ``python -I pipeline_worker.py``,
never with ``-m``, which would import the qa_core package first.
Protocol: one JSON request per line on stdin, one JSON reply per line on stdout; times are
measured here, around the pipeline call only, so process overhead is not charged to the baseline.
"""

import json
import resource
import sys
import time


def main() -> None:
    import torch
    from transformers import pipeline

    request = json.loads(sys.stdin.readline())
    torch.set_num_threads(request["threads"])
    qa = pipeline(
        "question-answering", model=request["checkpoint"], tokenizer=request["checkpoint"], device=-1
    )
    reply({"ready": True, "transformers": __import__("transformers").__version__})
    for line in sys.stdin:
        request = json.loads(line)
        inputs = [{"question": q, "context": c} for q, c in request["pairs"]]
        started = time.perf_counter()
        with torch.inference_mode():
            outputs = qa(
                inputs,
                batch_size=request["batch_size"],
                max_seq_len=request["max_length"],
                doc_stride=request["doc_stride"],
                max_answer_len=request["max_answer_length"],
                max_question_len=request["max_question_length"],
                top_k=1,
                # The default (True) widens a span to whole "words", and a Chinese sentence without
                # spaces is one word to XLM-R's pre-tokenizer: answers would be whole sentences.
                align_to_words=False,
            )
        seconds = time.perf_counter() - started
        outputs = outputs if isinstance(outputs, list) else [outputs]
        reply(
            {
                "seconds": seconds,
                "answers": [{"text": o["answer"], "start": o["start"], "end": o["end"]} for o in outputs],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )


def reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
