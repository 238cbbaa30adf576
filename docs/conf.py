"""Sphinx configuration of the docs site: `python -m sphinx -W --keep-going docs site`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cachectl import __version__  # noqa: E402

project = "cachectl"
author = "the cachectl authors"
copyright = "the cachectl authors"
version = release = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
# recipes/ holds YAML the operations page includes; screenshots/ the page's pictures.
exclude_patterns = ["_build", "recipes", "screenshots/*.md"]

# Markdown links to a heading (page.md#some-heading) resolve like GitHub's anchors.
myst_heading_anchors = 4
myst_enable_extensions = ["deflist", "colon_fence"]
# A link that does not resolve is an error (-W), not a dead link on the site.
nitpicky = True

html_theme = "furo"
html_title = f"cachectl {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
pygments_style = "friendly"
pygments_dark_style = "monokai"
