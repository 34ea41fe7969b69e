"""Sphinx configuration for the aio_etcd documentation."""

from __future__ import annotations

import sys
from pathlib import Path

# Document the checkout, not whatever aio_etcd happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aio_etcd  # noqa: E402

project = "aio_etcd"
author = "aio_etcd developers"
copyright = "aio_etcd developers"  # noqa: A001
release = aio_etcd.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {
    "show-inheritance": True,
}

html_theme = "alabaster"
html_title = f"aio_etcd {release}"
