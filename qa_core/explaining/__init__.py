"""Explaining and teaching: the trace's figures, "why this span", the lecture's and the lessons' views."""
