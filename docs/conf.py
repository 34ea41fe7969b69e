"""Sphinx configuration for the aio_etcd documentation."""

from __future__ import annotations

import sys
from pathlib import Path

# Document the checkout, not whatever aio_etcd happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aio_etcd

project = "aio_etcd"
author = "aio_etcd developers"
copyright = "aio_etcd developers"
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


def _resolve_reexported(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve ``aio_etcd.Name`` and bare ``Name`` references to where autodoc documents them.

    The package re-exports its exceptions (``aio_etcd.EtcdKeyNotFound``), and
    docstrings name them that way or bare; the reference pages document each
    object once, under its module (``aio_etcd.exceptions.EtcdKeyNotFound``).
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    package, _, name = target.rpartition(".")
    if package not in ("", "aio_etcd") or not name:
        return None
    domain = env.get_domain("py")
    matches = [full for full in domain.objects if full.startswith("aio_etcd.") and full.endswith("." + name)]
    matches = [full for full in matches if full.count(".") == 2]  # aio_etcd.<module>.<name>
    if len(matches) != 1:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], matches[0], node, contnode)


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", _resolve_reexported)
