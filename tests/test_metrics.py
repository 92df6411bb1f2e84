"""Scores match the official SQuAD v1.1 / v2.0 and CMRC 2018 rules on cases worked out by hand."""

from __future__ import annotations

import math

import pytest

from qa_core.data.metrics import (
    Scores,
    TradeOffPoint,
    best_threshold,
    catching,
    exact_match,
    f1,
    is_chinese,
    score,
    score_v2,
    trade_off,
    trade_off_rows,
)
from qa_core.data.squad import Example, GoldAnswer

ENGLISH_CONTEXT = "The Eiffel Tower is in Paris, France."
CHINESE_CONTEXT = "臺北是臺灣的首都。"


def example(qid: str, *golds: str, context: str = ENGLISH_CONTEXT) -> Example:
    return Example(qid, "question?", context, tuple(GoldAnswer(g, 0) for g in golds))


def unanswerable(qid: str, context: str = ENGLISH_CONTEXT) -> Example:
    return Example(qid, "question?", context, (), impossible=True)


# --- English (SQuAD v1.1) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [
        ("The Eiffel Tower!", "eiffel tower"),  # case, article, punctuation
        ("an   apple", "Apple."),  # article and extra white space
        ("Paris, France", "paris france"),
    ],
)
def test_english_exact_match_ignores_case_articles_punctuation_and_spacing(prediction, gold):
    assert exact_match(prediction, [gold]) == 1.0


def test_english_keeps_words_that_merely_contain_articles():
    # "theatre" and "another" are not the articles "the" and "an".
    assert exact_match("theatre", ["atre"]) == 0.0
    assert f1("another theatre", ["theatre"]) == pytest.approx(2 / 3)


def test_english_token_f1_with_partial_overlap():
    # prediction tokens: in paris france europe (4); gold: paris (1); common 1.
    # precision 1/4, recall 1/1 -> F1 = 2 * 0.25 * 1 / 1.25 = 0.4
    assert f1("in Paris, France, Europe", ["Paris"]) == pytest.approx(0.4)
    # prediction: big red dog ("the" dropped); gold: red dog barked; common 2 -> P = R = 2/3 -> F1 = 2/3
    assert f1("the big red dog", ["red dog barked"]) == pytest.approx(2 / 3)


def test_english_token_f1_counts_repeated_tokens_once_per_match():
    # prediction: paris paris (2); gold: paris (1); common min(2, 1) = 1 -> P 1/2, R 1 -> F1 2/3
    assert f1("Paris Paris", ["Paris"]) == pytest.approx(2 / 3)


def test_max_over_gold_answers():
    golds = ["Denver Broncos", "the Broncos", "Carolina"]

    assert exact_match("Broncos", golds) == 1.0  # matches "the Broncos"
    assert f1("Denver", golds) == pytest.approx(2 / 3)  # best: P 1, R 1/2 against "Denver Broncos"
    assert f1("Miami", golds) == 0.0


def test_answers_that_normalise_to_nothing_match_but_score_no_f1_as_officially():
    assert exact_match("the", ["a"]) == 1.0
    assert f1("the", ["a"]) == 0.0


# --- Chinese (CMRC 2018) -------------------------------------------------------------------------------


def test_chinese_exact_match_strips_punctuation_and_all_white_space():
    assert exact_match("「臺 北」。", ["臺北"]) == 1.0
    assert exact_match("《紅樓夢》", ["紅樓夢"]) == 1.0
    assert exact_match("臺北市", ["臺北"]) == 0.0


def test_chinese_character_f1_with_punctuation_stripped():
    # prediction 臺 北 市 (3, brackets and full stop stripped); gold 臺 北 (2); common run 2
    # P = 2/3, R = 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    assert f1("「臺北市」。", ["臺北"]) == pytest.approx(0.8)


def test_chinese_f1_counts_the_longest_common_run_not_a_bag_of_characters():
    # CMRC 2018 takes the longest common contiguous run: 北臺 vs 臺北 share runs of length 1 only.
    # P = R = 1/2 -> F1 0.5 (a bag-of-characters F1 would give 1.0)
    assert f1("北臺", ["臺北"]) == pytest.approx(0.5)


def test_mixed_text_keeps_latin_and_digit_runs_as_single_tokens():
    # prediction: 2018 年 nba 總 冠 軍 (6 tokens, lower-cased); gold: nba 總 冠 軍 (4); common run 4
    # P = 4/6, R = 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    assert f1("2018年NBA總冠軍", ["NBA總冠軍"]) == pytest.approx(0.8)
    # "NB" and "NBA" are different tokens: no partial credit inside a Latin word
    assert f1("NB", ["NBA總"], chinese=True) == 0.0


def test_full_width_symbols_count_as_punctuation():
    assert exact_match("１０～２０", ["１０２０"], chinese=True) == 1.0


def test_is_chinese():
    assert is_chinese("NBA總冠軍")
    assert is_chinese("𠀋")  # CJK extension B
    assert not is_chinese("Paris, France。")  # CJK punctuation alone is not Chinese text
    assert not is_chinese("")


# --- score ---------------------------------------------------------------------------------------------


def test_strict_accuracy_differs_from_exact_match():
    scores = score({"q1": "Paris."}, [example("q1", "Paris")])

    assert scores == Scores(exact_match=100.0, f1=100.0, accuracy=0.0, n=1)


def test_strict_accuracy_uses_only_the_first_gold_answer():
    scores = score({"q1": "Paris"}, [example("q1", "Paris, France", "Paris")])

    assert (scores.exact_match, scores.accuracy) == (100.0, 0.0)


def test_score_averages_over_examples():
    examples = [
        example("e1", "Paris"),  # exact: EM 1, F1 1, strict 1
        example("e2", "red dog barked"),  # "the big red dog": EM 0, F1 2/3, strict 0
        example("e3", "a blue car"),  # "blue": EM 0, F1 2*(1*1/2)/(1+1/2) = 2/3, strict 0
    ]
    predictions = {"e1": "Paris", "e2": "the big red dog", "e3": "blue", "extra": "ignored"}

    scores = score(predictions, examples)

    assert scores.n == 3
    assert scores.exact_match == pytest.approx(100 / 3)
    assert scores.f1 == pytest.approx(100 * (1 + 2 / 3 + 2 / 3) / 3)
    assert scores.accuracy == pytest.approx(1 / 3)


def test_one_set_of_rules_per_data_set():
    chinese = [example(f"c{i}", "臺北", context=CHINESE_CONTEXT) for i in range(2)]
    # In a mostly Chinese set, "臺北市" against "臺北" is character F1 0.8 (2 of 3 and 2 of 2 characters).
    assert score({"c0": "臺北市", "c1": "臺北"}, chinese).f1 == pytest.approx(100 * (0.8 + 1) / 2)
    # In a mostly English set the same pair is one whitespace token against another: F1 0.
    english = [example("e1", "Paris"), example("e2", "Paris"), example("c1", "臺北", context=CHINESE_CONTEXT)]
    assert score({"e1": "Paris", "e2": "Paris", "c1": "臺北市"}, english).f1 == pytest.approx(100 * 2 / 3)


def test_chinese_context_selects_chinese_rules_for_a_latin_answer():
    # English rules drop the article ("the nba" == "nba"); Chinese rules keep "the" as a token.
    predictions = {"q": "the NBA"}

    english = score(predictions, [example("q", "NBA")])
    chinese = score(predictions, [example("q", "NBA", context="他在NBA打球。")])

    assert english.exact_match == 100.0
    assert chinese.exact_match == 0.0
    assert chinese.f1 == pytest.approx(100 * 2 / 3)  # the nba vs nba: P 1/2, R 1


def test_missing_predictions_are_named():
    examples = [example(f"q{i}", "Paris") for i in range(8)]

    with pytest.raises(
        ValueError, match=r"lack 7 of 8 example ids \('q1', 'q2', 'q3', 'q4', 'q5' and 2 more\)"
    ):
        score({"q0": "Paris"}, examples)


def test_unlabelled_examples_cannot_be_scored():
    with pytest.raises(ValueError, match=r"1 of 2 examples have no gold answers \(ids 'u1'\)"):
        score({"q1": "Paris", "u1": "x"}, [example("q1", "Paris"), example("u1")])


def test_nothing_to_score():
    with pytest.raises(ValueError, match="nothing to score"):
        score({}, [])


def test_gold_answers_must_be_a_non_empty_list_of_strings():
    with pytest.raises(TypeError, match="not one string"):
        f1("Paris", "Paris")
    with pytest.raises(ValueError, match="no gold answers"):
        exact_match("Paris", [])


# --- SQuAD 2.0 -----------------------------------------------------------------------------------------


def test_v2_scores_answerable_and_unanswerable_questions_apart_and_together():
    examples = [
        example("a1", "Paris"),  # "Paris": EM 1, F1 1, strict 1
        example("a2", "red dog barked"),  # "the big red dog": EM 0, F1 2/3, strict 0
        example("a3", "Paris"),  # "" on an answerable question: 0
        unanswerable("n1"),  # "": EM 1, F1 1, strict 1
        unanswerable("n2"),  # "Paris" on an unanswerable question: 0
        unanswerable("n3"),  # "the" normalises to nothing: EM 1, F1 1 (official), strict 0
    ]
    predictions = {"a1": "Paris", "a2": "the big red dog", "a3": "", "n1": "", "n2": "Paris", "n3": "the"}

    scores = score_v2(predictions, examples)

    assert scores.has_ans == Scores(
        exact_match=pytest.approx(100 / 3), f1=pytest.approx(100 * (5 / 3) / 3), accuracy=1 / 3, n=3
    )
    assert scores.no_ans == Scores(
        exact_match=pytest.approx(200 / 3), f1=pytest.approx(200 / 3), accuracy=1 / 3, n=3
    )
    assert scores.overall == Scores(
        exact_match=50.0, f1=pytest.approx(100 * (11 / 3) / 6), accuracy=pytest.approx(2 / 6), n=6
    )


def test_v2_leaves_out_a_part_with_no_question():
    scores = score_v2({"a1": "Paris"}, [example("a1", "Paris")])

    assert scores.no_ans is None
    assert scores.has_ans == scores.overall == Scores(exact_match=100.0, f1=100.0, accuracy=1.0, n=1)


def test_v2_chinese_rules_count_punctuation_alone_as_empty():
    examples = [unanswerable("n1", CHINESE_CONTEXT), example("a1", "臺北", context=CHINESE_CONTEXT)]

    scores = score_v2({"n1": "「。」", "a1": "臺北市"}, examples)

    assert (scores.no_ans.exact_match, scores.no_ans.accuracy) == (100.0, 0.0)
    assert scores.has_ans.f1 == pytest.approx(80.0)  # character F1, as in test_chinese_character_f1_...


def test_v1_scoring_sends_unanswerable_questions_to_v2():
    with pytest.raises(
        ValueError, match=r"1 of 2 examples are SQuAD 2.0 unanswerable questions \(ids 'n1'\).*score_v2"
    ):
        score({"a1": "Paris", "n1": ""}, [example("a1", "Paris"), unanswerable("n1")])


def test_v2_still_refuses_an_answerable_question_without_gold_answers():
    with pytest.raises(ValueError, match=r"1 of 2 examples have no gold answers \(ids 'u1'\)"):
        score_v2({"n1": "", "u1": "x"}, [unanswerable("n1"), example("u1")])


# A threshold search on five questions. Answering a question (margin <= threshold) instead of "" changes F1 by:
#   n1 -2: -1 | h1 -1: +1 | h2 0.5: +2/3 (EM +0) | n2 1.5: -1 | h3 3: +2/3 (EM +0)
# Running F1 totals from all "" (n1, n2 right = 2): below -2: 2, -2: 1, -1: 2, 0.5: 8/3, 1.5: 5/3, 3: 7/3.
# Running EM totals: 2, 1, 2, 2, 1, 1: nothing beats answering every question "".
SEARCH = [
    (unanswerable("n1"), "Seine", -2.0),
    (example("h1", "Paris"), "Paris", -1.0),
    (example("h2", "red dog barked"), "the big red dog", 0.5),
    (unanswerable("n2"), "France", 1.5),
    (example("h3", "red dog barked"), "the big red dog", 3.0),
]


def search_inputs(
    rows: list[tuple[Example, str, float]] = SEARCH,
) -> tuple[dict[str, str], dict[str, float], list[Example]]:
    return {e.id: span for e, span, _ in rows}, {e.id: m for e, _, m in rows}, [e for e, _, _ in rows]


def test_best_f1_threshold_is_the_margin_after_which_answering_stops_paying():
    best_spans, margins, examples = search_inputs()

    best = best_threshold(best_spans, margins, examples)

    assert (best.threshold, best.metric) == (0.5, "f1")
    assert best.scores.overall.f1 == pytest.approx(100 * (8 / 3) / 5)
    assert best.scores.overall.exact_match == pytest.approx(40.0)  # h1 and n2
    assert (best.scores.has_ans.n, best.scores.no_ans.n) == (3, 2)
    assert best.scores.no_ans.exact_match == 50.0  # n1 answered "Seine", n2 answered ""
    for other in (-1.0, 1.5):  # one question fewer or one more answered, on either side, scores less
        decided = {qid: "" if margins[qid] > other else span for qid, span in best_spans.items()}
        assert score_v2(decided, examples).overall.f1 < best.scores.overall.f1


def test_best_exact_match_threshold_can_be_to_answer_every_question_with_nothing():
    best_spans, margins, examples = search_inputs()

    best = best_threshold(best_spans, margins, examples, metric="exact_match")

    assert best.threshold < -2.0 and best.threshold == math.nextafter(-2.0, -math.inf)
    assert best.scores.overall.exact_match == 40.0  # n1 and n2 right: the first best total is kept
    assert best.scores.has_ans.exact_match == 0.0


def test_best_threshold_can_be_to_answer_every_question_with_its_span():
    rows = [(unanswerable("n1"), "", 0.0), (example("h1", "Paris"), "Paris", 7.0)]  # n1's best span is empty

    best = best_threshold(*search_inputs(rows))

    assert best.threshold == 7.0
    assert best.scores.overall == Scores(exact_match=100.0, f1=100.0, accuracy=1.0, n=2)


def test_best_threshold_answers_questions_of_an_equal_margin_together():
    # Answering h1 alone would score 100, but n1 has the same margin: no threshold answers one without the other.
    rows = [(example("h1", "Paris"), "Paris", 1.0), (unanswerable("n1"), "Seine", 1.0)]

    best = best_threshold(*search_inputs(rows))

    assert best.threshold == math.nextafter(1.0, -math.inf)
    assert best.scores.overall.f1 == 50.0


def test_best_threshold_needs_a_margin_for_every_question_and_a_known_metric():
    best_spans, margins, examples = search_inputs()
    del margins["h2"]
    with pytest.raises(ValueError, match=r"null margins lack 1 of 5 example ids \('h2'\)"):
        best_threshold(best_spans, margins, examples)
    with pytest.raises(ValueError, match="metric must be one of exact_match, f1"):
        best_threshold(*search_inputs(), metric="accuracy")


def test_trade_off_moves_from_catching_every_unanswerable_question_to_answering_every_one():
    points = trade_off(*search_inputs())

    assert [p.threshold for p in points] == [math.nextafter(-2.0, -math.inf), -2.0, -1.0, 0.5, 1.5, 3.0]
    assert [p.has_ans_f1 for p in points] == pytest.approx(
        [0.0, 0.0, 100 / 3, 100 * (5 / 3) / 3, 100 * (5 / 3) / 3, 100 * (7 / 3) / 3]
    )
    assert [p.no_ans_accuracy for p in points] == [1.0, 0.5, 0.5, 0.5, 0.0, 0.0]


def test_trade_off_at_given_thresholds_in_increasing_order():
    points = trade_off(*search_inputs(), thresholds=[10.0, 0.0])

    assert points == [
        TradeOffPoint(0.0, has_ans_f1=pytest.approx(100 / 3), no_ans_accuracy=0.5),
        TradeOffPoint(10.0, has_ans_f1=pytest.approx(100 * (7 / 3) / 3), no_ans_accuracy=0.0),
    ]


def test_trade_off_needs_both_kinds_of_question():
    with pytest.raises(ValueError, match="0 of 1 are unanswerable"):
        trade_off({"h1": "Paris"}, {"h1": 0.0}, [example("h1", "Paris")])


def test_trade_off_rows_keep_for_each_share_caught_the_threshold_that_answers_most():
    curve = [
        TradeOffPoint(-3.0, has_ans_f1=10.0, no_ans_accuracy=1.0),
        TradeOffPoint(-2.0, has_ans_f1=40.0, no_ans_accuracy=0.9),
        TradeOffPoint(-1.0, has_ans_f1=60.0, no_ans_accuracy=0.75),
        TradeOffPoint(0.0, has_ans_f1=70.0, no_ans_accuracy=0.4),
        TradeOffPoint(1.0, has_ans_f1=80.0, no_ans_accuracy=0.0),
    ]

    rows = trade_off_rows(curve, levels=(0.5, 0.7, 0.8, 0.9, 0.95))

    # 0.5 and 0.7 are both first reached at -1.0, 0.8 and 0.9 at -2.0; the last row answers everything
    assert rows == [curve[0], curve[1], curve[2], curve[4]]
    assert catching(curve, 0.85) == curve[1] and catching(curve, 0.75) == curve[2]
    assert catching(curve[1:], 0.95) is None
