"""A local stand-in for the Hugging Face Hub's HTTP API, for the real `huggingface_hub` client.

It answers the four calls a commit makes (huggingface_hub 2.x: create a repo, validate a
README's metadata, ask how each file is uploaded, commit) and keeps the committed files. It
tells the client to send every file inline ("regular"); the real Hub has large files go through
LFS/Xet storage, a transport the client library owns and that is not ours to test.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)


class FakeHub:
    def __init__(self, token: str = "hf_test_token") -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, path: str, body: bytes, auth: str | None) -> tuple[int, Any]:
        self.requests.append((method, path))
        if auth != f"Bearer {self.token}":
            return 401, {"error": "Invalid credentials in Authorization header"}
        if path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request.get('organization') or 'me'}/{request['name']}"
            if repo_id in self.repos:
                url = f"{self.url}/{repo_id}"  # the Hub names the existing repo
                return 409, {"error": "You already created this model repo", "url": url}
            self.repos[repo_id] = Repo(private=request.get("visibility") == "private")
            return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id}
        if path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(preupload|commit)/main", path)
        if not match or match.group(1) not in self.repos:
            return 404, {"error": "Repository not found"}
        repo = self.repos[match.group(1)]
        if match.group(2) == "preupload":
            files = json.loads(body)["files"]
            modes = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
            ]
            return 200, {"files": modes}
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        for line in lines:
            if line["key"] == "file":
                repo.files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        oid = f"{len(repo.commits) + 1:040x}"
        repo.commits.append(lines[0]["value"]["summary"])
        return 200, {"commitUrl": f"{self.url}/{match.group(1)}/commit/{oid}", "commitOid": oid}


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            status, payload = hub.answer("POST", path, body, self.headers.get("Authorization"))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
