"""Publishing a Modelfile: to an Ollama server and from there to ollama.com (`server`), and the
GGUFs with a model card to the Hugging Face Hub (`hub`)."""

from storyloom_pipeline.publish.names import ModelName, ModelNameError, parse_model_name
from storyloom_pipeline.publish.plan import CreatePlan, PlanError, plan_create
from storyloom_pipeline.publish.progress import Progress, SilentProgress, TqdmProgress
from storyloom_pipeline.publish.server import (
    Blob,
    PublishError,
    PublishResult,
    make_client,
    publish,
)

__all__ = [
    "Blob",
    "CreatePlan",
    "ModelName",
    "ModelNameError",
    "PlanError",
    "Progress",
    "PublishError",
    "PublishResult",
    "SilentProgress",
    "TqdmProgress",
    "make_client",
    "parse_model_name",
    "plan_create",
    "publish",
]
