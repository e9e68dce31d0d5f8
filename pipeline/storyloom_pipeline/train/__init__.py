"""LoRA/QLoRA fine-tuning of a recipe's base model on the chat training set, and the merge.

    result = train(load_recipe(path), Path("runs/cra-v1-7b"))     # resumable, see run.py
    merged = merge_adapter(result.adapter_dir, Path("runs/cra-v1-7b/merged"),
                           base_model=recipe.base_model, dtype=recipe.dtype)

torch, transformers and peft are imported when these run, not when this package is imported.
"""

from storyloom_pipeline.train.examples import (
    IGNORE_INDEX,
    ChatTokens,
    DataError,
    read_chat_split,
    split_chat,
    tokenize_chat,
)
from storyloom_pipeline.train.model import TrainingError, merge_adapter
from storyloom_pipeline.train.run import TrainResult, train
from storyloom_pipeline.train.run_folder import RunFolder, RunFolderError

__all__ = [
    "IGNORE_INDEX",
    "ChatTokens",
    "DataError",
    "RunFolder",
    "RunFolderError",
    "TrainResult",
    "TrainingError",
    "merge_adapter",
    "read_chat_split",
    "split_chat",
    "tokenize_chat",
    "train",
]
