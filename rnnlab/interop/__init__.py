"""Converters between rnnlab's layout and other libraries'. Gate orders are translated here and
nowhere else (STYLE.md, principle 6). Submodules import their library lazily."""
