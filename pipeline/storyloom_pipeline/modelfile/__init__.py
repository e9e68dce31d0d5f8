"""Ollama Modelfiles for the cra models: the format (`syntax`), the chat TEMPLATE (`template`)
and the Modelfiles of the recipes (`recipes`, what `storyloom-pipeline modelfile` writes)."""

from storyloom_pipeline.modelfile.recipes import (
    ModelfilesReport,
    export_paths,
    modelfile_for,
    render_modelfile,
    write_modelfiles,
)
from storyloom_pipeline.modelfile.syntax import Modelfile, ModelfileError, parse, quote, render
from storyloom_pipeline.modelfile.template import CHATML_TEMPLATE

__all__ = [
    "CHATML_TEMPLATE",
    "Modelfile",
    "ModelfileError",
    "ModelfilesReport",
    "export_paths",
    "modelfile_for",
    "parse",
    "quote",
    "render",
    "render_modelfile",
    "write_modelfiles",
]
