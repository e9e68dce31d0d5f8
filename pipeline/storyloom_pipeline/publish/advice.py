"""What to do about an error from the Ollama server, in words a publisher can act on.

The server's messages are those of Ollama v0.32 (the recorded transcripts 15-21 and reference
1.4, 1.7, 3). Errors inside a progress stream arrive with HTTP 200 and no status code
(`ResponseError.status_code == -1`), so they are told apart by their text, not by the code.
The server's own words are always kept at the end, for searching.
"""

from __future__ import annotations

import httpx
from ollama import ResponseError

from storyloom_pipeline.publish.names import RULES, ModelName

SERVER_KEY = (
    "the Ollama server signs pushes with the key of the user it runs as: add that public key "
    "(~/.ollama/id_ed25519.pub; for the Linux service /usr/share/ollama/.ollama/id_ed25519.pub) "
    "at https://ollama.com/settings/keys, or run `ollama signin`"
)


def advice(error: Exception, *, name: ModelName, host: str, stage: str) -> str:
    """One message for `error`, raised while `stage` ("upload", "create", "push") of `name`
    ran against the server at `host`."""
    if isinstance(error, ConnectionError | httpx.ConnectError):
        return (
            f"cannot reach Ollama at {host}: start it (`ollama serve`, or the desktop app) "
            "or point --host / OLLAMA_HOST at it"
        )
    if isinstance(error, httpx.TimeoutException | httpx.RemoteProtocolError):
        return f"Ollama at {host} stopped answering during {stage} ({error!r}); try again"
    message = error.error if isinstance(error, ResponseError) else str(error)
    said = f" (Ollama: {message})"
    text = message.lower()
    if "unauthorized" in text or "access denied" in text:
        return (
            f"ollama.com refused the push to {name}: {SERVER_KEY}; and push to a namespace you "
            f"own (your ollama.com user name, here {name.namespace!r}){said}"
        )
    if "no such host" in text or "dial tcp" in text or "i/o timeout" in text:
        return (
            f"the Ollama server cannot reach the registry {name.host}: check the network of the "
            f"machine running `ollama serve`{said}"
        )
    if stage == "push" and "manifests" in text and "no such file" in text:
        return f"there is no model {name} on the server to push: publish creates it first{said}"
    if "pull model manifest" in text and ("file does not exist" in text or "not found" in text):
        return (
            "the Modelfile's FROM model is not on the server and the registry does not have "
            f"it either: check its name, or `ollama pull` it first{said}"
        )
    if "unsupported quantization type" in text:
        return f"Ollama cannot quantize to that type; use q4_K_M, q4_K_S or q8_0{said}"
    if "quantization is only supported" in text:
        return (
            "Ollama quantizes only F16, BF16 or F32 weights: publish the F16 export with "
            f"--quantize, or a quantized GGUF without it{said}"
        )
    if "only one adapter" in text:
        return f"Ollama applies one LoRA adapter per model; keep one ADAPTER line{said}"
    if "template error" in text:
        return (
            "the server cannot parse the Modelfile's TEMPLATE; regenerate the Modelfile with "
            f"`storyloom-pipeline modelfile`{said}"
        )
    if "invalid model name" in text or "is invalid" in text:
        return f"Ollama refused the name {name}: {RULES}{said}"
    if "digest mismatch" in text:
        return f"a file changed while it was uploaded; publish again once it is complete{said}"
    if stage == "create" and "blobs" in text and "no such file" in text:
        return f"the server lost an uploaded file (was it pruned?); publish again{said}"
    if (isinstance(error, ResponseError) and error.status_code == 404) or "not found" in text:
        return f"not found on the server at {host}{said}"
    return f"Ollama failed during {stage} of {name}{said}"
