"""Storyloom: a local-first writing tool for novelists.

This module holds the version only. It must stay free of Qt and of any heavy import so that
`storyloom.prompting` and `storyloom.core` can be used by the pipeline and by tests without a GUI.
"""

__version__ = "0.1.0"

APP_ID = "io.github.storyloom.Storyloom"
"""Reverse-DNS id shared by the desktop entry, the AppStream metainfo and Qt's desktop file name."""
