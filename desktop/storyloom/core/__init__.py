"""Storyloom's core: everything the app does that is not drawing (no Qt here).

The Ollama backend, the context window, session state, documents and the settings model live
in this package as plain classes and async generators, so they can be tested without a GUI.
tests/unit/test_boundaries.py fails if anything here imports PySide6.
"""
