"""Answering: a question and a paragraph become windows, scores, spans and one answer with its trace."""
