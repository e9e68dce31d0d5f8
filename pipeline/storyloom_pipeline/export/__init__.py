"""GGUF export and verification: the merged model and the LoRA adapter as GGUF files written
with the `gguf` library, quantized copies, and checks in the real llama.cpp engine."""
