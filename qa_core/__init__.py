"""A small, readable extractive question-answering engine over BERT-style encoders.

Data flows one way: text -> windows -> scores -> spans -> answer. Nothing here imports Gradio.
"""
