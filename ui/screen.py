"""How the page fits a phone: below ``PHONE_WIDTH`` pixels, every row stacks its parts full width.

Gradio lays a row's children side by side down to each one's ``min_width``, so on a 420 px phone two plots
in a row share ~300 px and their titles are cut. Stacking keeps every plot as wide as the screen; the tabs
wrap onto a second line (``gr.Tabs(overflow_behavior="wrap")``) instead of hiding in a "more" menu.
"""

PHONE_WIDTH = 600  # px: a phone held upright, or a narrow window beside the projector's notes

CSS = f"""
@media (max-width: {PHONE_WIDTH}px) {{
  .row {{ flex-direction: column !important; flex-wrap: nowrap !important; }}
  .row > * {{ width: 100%; min-width: 0 !important; flex: 1 1 auto !important; }}
}}
"""
