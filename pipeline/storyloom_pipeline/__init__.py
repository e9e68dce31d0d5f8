"""Storyloom's model-making pipeline.

Books -> chunks -> reasoning -> dataset -> LoRA -> GGUF -> Modelfiles -> Ollama Hub.

Installed with the `pipeline` extra. From the app it imports `storyloom.prompting` and nothing
else, so the training data is rendered by exactly the code the app uses at inference.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("storyloom")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
