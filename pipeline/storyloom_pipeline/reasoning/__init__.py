"""Teacher-LLM reasoning for chunks: the `reason` stage of the pipeline.

- `chunk_source`: reads the chunk stage's output (a `save_to_disk` DatasetDict or parquet files).
- `providers`: OpenAI-compatible chat completions (OpenRouter by default) and Ollama.
- `validation`: what counts as a usable monologue or guidance sentence.
- `journal`: the SQLite (WAL) journal that makes every result count exactly once.
- `runner`: bounded concurrency, retries with backoff, cost limits and progress.
"""
