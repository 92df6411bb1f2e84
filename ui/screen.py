"""The page's own CSS: how it fits a phone, and how the answer sits in its paragraph.

Below ``PHONE_WIDTH`` pixels every row stacks its parts full width: Gradio lays a row's children side by
side down to each one's ``min_width``, so on a 420 px phone two plots in a row share ~300 px and their
titles are cut. The tabs wrap onto a second line (``gr.Tabs(overflow_behavior="wrap")``) instead of hiding
in a "more" menu.

The highlighted answer flows with its sentence: Gradio's HighlightedText lays each stretch of text out as
a box of a flex row, so a wrapped line pushed the answer's box onto a line of its own; as inline text it
wraps where the words do.
"""

PHONE_WIDTH = 600  # px: a phone held upright, or a narrow window beside the projector's notes
ANSWER_IN_PARAGRAPH = "highlighted"  # elem_id of the Ask tab's highlighted paragraph

CSS = f"""
@media (max-width: {PHONE_WIDTH}px) {{
  .row {{ flex-direction: column !important; flex-wrap: nowrap !important; }}
  .row > * {{ width: 100%; min-width: 0 !important; flex: 1 1 auto !important; }}
}}
#{ANSWER_IN_PARAGRAPH} .textfield {{ display: block; line-height: 2; }}
#{ANSWER_IN_PARAGRAPH} .token-container {{ display: inline; }}
#{ANSWER_IN_PARAGRAPH} .line-break {{ display: block; }}
"""
