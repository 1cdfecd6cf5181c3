"""Pushing checkpoints to the Hugging Face Hub (`save_pretrained(push_to_hub=...)`, `morph push`)
through huggingface_hub's own client, against a Hub served on 127.0.0.1 by this file: nothing
reaches the internet (a guard refuses any other address). The server answers the few endpoints
`HfApi.create_repo`, `create_branch` and `upload_folder` call: create a repository, create a
branch, list a revision's files, "preupload" (it asks every file as a "regular" git blob, so the
content travels base64 in the commit: the real Hub routes large files through Xet storage, which
these tests do not cover) and the NDJSON commit. What was pushed is then put into a Hub cache on disk
and loaded back by the id it was pushed to, with HF_HUB_OFFLINE=1."""

import base64
import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import torch

import adapters
from morph import MORPH
from morph.checkpoint import CheckpointError, load_pretrained, push_to_hub
from morph.cli import main
from tests.conftest import tiny_model
from tests.morph.test_hub import add_to_hub_cache

TOKEN = "hf_test_token"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
_REPO_PATH = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<op>branch|preupload|commit|tree)/(?P<rest>.+)$")


class FakeHub(ThreadingHTTPServer):
    """A Hub on 127.0.0.1: `repos[repo_id]` is {"private": bool, "branches": {name: {path: bytes}}};
    `commits` lists {"repo", "revision", "summary"} in order."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.repos: dict = {}
        self.commits: list = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def files(self, repo_id: str, revision: str = "main", under: str = "") -> dict:
        """{path below `under`: bytes} of a branch, without the .gitattributes every repository starts with."""
        branch = self.repos[repo_id]["branches"][revision]
        prefix = f"{under.strip('/')}/" if under else ""
        return {path[len(prefix):]: data for path, data in branch.items()
                if path.startswith(prefix) and path != ".gitattributes"}


class _HubHandler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body, error_code: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_code:
            self.send_header("X-Error-Code", error_code)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        match = _REPO_PATH.match(url.path)
        if match is None or match["op"] != "tree":
            return self._answer(404, {"error": f"not served: GET {url.path}"})
        repo = self.server.repos.get(match["repo"])
        revision, _, folder = unquote(match["rest"]).partition("/")
        if repo is None or revision not in repo["branches"]:
            return self._answer(404, {"error": "no such repository or revision"}, "RevisionNotFound")
        files = [{"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                 for path, data in sorted(repo["branches"][revision].items()) if path.startswith(folder)]
        self._answer(200, files)

    def do_POST(self) -> None:
        body = self._body()
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, {"error": "Invalid username or password."})
        url = urlsplit(self.path)
        with self.server.lock:
            if url.path == "/api/repos/create":
                return self._create(json.loads(body))
            match = _REPO_PATH.match(url.path)
            if match is None or match["repo"] not in self.server.repos:
                return self._answer(404, {"error": "Repository not found"}, "RepoNotFound")
            branches = self.server.repos[match["repo"]]["branches"]
            revision = unquote(match["rest"])
            if match["op"] == "branch":
                if revision in branches:
                    return self._answer(409, {"error": "Branch already exists"})
                branches[revision] = dict(branches["main"])
                return self._answer(200, {})
            if revision not in branches:
                return self._answer(404, {"error": f"Invalid rev id: {revision}"}, "RevisionNotFound")
            if match["op"] == "preupload":
                files = json.loads(body)["files"]
                return self._answer(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                                     "oid": None} for f in files]})
            if match["op"] == "commit":
                return self._commit(match["repo"], revision, body)
            self._answer(404, {"error": f"not served: POST {url.path}"})

    def _create(self, payload: dict) -> None:
        repo_id = f"{payload['organization']}/{payload['name']}"
        if repo_id in self.server.repos:
            return self._answer(409, {"error": "You already created this model repo",
                                      "url": f"{self.server.endpoint}/{repo_id}"})
        self.server.repos[repo_id] = {"private": payload.get("visibility") == "private",
                                      "branches": {"main": {".gitattributes": GITATTRIBUTES}}}
        self._answer(200, {"url": f"{self.server.endpoint}/{repo_id}"})

    def _commit(self, repo_id: str, revision: str, body: bytes) -> None:
        assert self.headers.get("Content-Type") == "application/x-ndjson"
        lines = [json.loads(line) for line in body.splitlines() if line]
        assert lines[0]["key"] == "header"
        branch = self.server.repos[repo_id]["branches"][revision]
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                assert value["encoding"] == "base64"
                branch[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "deletedFile":
                del branch[value["path"]]
            else:
                return self._answer(400, {"error": f"not served: commit operation {line['key']}"})
        self.server.commits.append({"repo": repo_id, "revision": revision, "summary": lines[0]["value"]["summary"]})
        oid = hashlib.sha1(body).hexdigest()
        self._answer(200, {"commitUrl": f"{self.server.endpoint}/{repo_id}/commit/{oid}", "commitOid": oid,
                           "pullRequestUrl": None})


@pytest.fixture
def no_internet(monkeypatch):
    """Any connection to an address other than this machine's fails the test."""
    connect = socket.socket.connect

    def local_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"the test tried to reach {address}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


@pytest.fixture
def hub(tmp_path, monkeypatch, no_internet):
    import huggingface_hub.constants

    server = FakeHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # huggingface_hub reads HF_HUB_OFFLINE once, at import: an earlier test may have imported it offline
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield server
    server.shutdown()
    server.server_close()


def saved_files(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def load_back(server: FakeHub, tmp_path: Path, monkeypatch, repo_id: str, revision: str = "main"):
    """What `server` holds for `repo_id` put into the Hub cache; the env offline from now on."""
    staged = tmp_path / "from-server" / repo_id / revision
    for path, data in server.repos[repo_id]["branches"][revision].items():
        (staged / path).parent.mkdir(parents=True, exist_ok=True)
        (staged / path).write_bytes(data)
    add_to_hub_cache(tmp_path / "hub-cache", repo_id, {path: staged / path for path in saved_files(staged)},
                     revision=revision, commit=hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny_fno():
    pytest.importorskip("neuralop")
    from morph.model import FNO, FNOConfig

    return FNO(FNOConfig(history=2, fields=2, components=2, spatial_dims=2, hidden_channels=8, n_modes=3,
                         n_layers=2)).eval()


@pytest.mark.parametrize("make", [lambda: tiny_model(seed=3), tiny_fno], ids=["morph", "fno"])
def test_save_pretrained_pushes_exactly_the_saved_files_and_they_load_back_by_that_id(make, hub, tmp_path,
                                                                                      monkeypatch):
    model = make()
    model.save_pretrained(tmp_path / "ckpt", push_to_hub="me/tiny@v1/models/ti", private=True,
                          commit_message="a tiny model")
    assert hub.files("me/tiny", "v1", under="models/ti") == saved_files(tmp_path / "ckpt")
    assert hub.repos["me/tiny"]["private"] is True
    assert hub.commits == [{"repo": "me/tiny", "revision": "v1", "summary": "a tiny model"}]
    load_back(hub, tmp_path, monkeypatch, "me/tiny", "v1")
    loaded = load_pretrained("me/tiny@v1/models/ti")
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)


def test_a_lora_adapter_is_pushed_alone_and_loads_back_onto_its_hub_base(hub, tmp_path, monkeypatch):
    tiny_model(seed=4).save_pretrained(tmp_path / "base", push_to_hub="me/base")
    load_back(hub, tmp_path, monkeypatch, "me/base")
    tuned = adapters.add_lora(MORPH.from_pretrained("me/base"), rank=2)
    with torch.no_grad():
        for name, parameter in tuned.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    tuned.save_pretrained(tmp_path / "adapter", push_to_hub="me/tuned")
    pushed = hub.files("me/tuned")
    assert pushed == saved_files(tmp_path / "adapter") and "adapter_model.safetensors" in pushed
    assert "model.safetensors" not in pushed  # the adapter alone, its base by id
    assert hub.commits[-1]["summary"] == "Upload adapter checkpoint with morph-pde"
    load_back(hub, tmp_path, monkeypatch, "me/tuned")
    x = torch.randn(1, 2, 1, 1, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(load_pretrained("me/tuned")(x), tuned.eval()(x))


def test_a_push_replaces_an_earlier_checkpoint_in_the_folder_and_keeps_other_files(hub, tmp_path):
    hub.repos["me/work"] = {"private": False, "branches": {"main": {
        ".gitattributes": GITATTRIBUTES, "README.md": b"# my model\n", "adapter_config.json": b"{}",
        "adapter_model.safetensors": b"old", "elsewhere/config.json": b"{}"}}}
    tiny_model(seed=5).save_pretrained(tmp_path / "ckpt")
    url = push_to_hub(tmp_path / "ckpt", "me/work")
    assert url.startswith(f"{hub.endpoint}/me/work/commit/")
    assert hub.files("me/work") == {**saved_files(tmp_path / "ckpt"), "README.md": b"# my model\n",
                                    "elsewhere/config.json": b"{}"}


def test_morph_push_uploads_a_run_directory_s_final_checkpoint(hub, tmp_path, capsys):
    tiny_model(seed=6).save_pretrained(tmp_path / "run" / "final")
    main(["push", str(tmp_path / "run"), "me/cli", "--private", "-m", "from the command line"])
    assert "pushed " in capsys.readouterr().out
    assert hub.files("me/cli") == saved_files(tmp_path / "run" / "final")
    assert hub.repos["me/cli"]["private"] and hub.commits[-1]["summary"] == "from the command line"


def test_failed_pushes_are_our_error_naming_the_repository_and_what_to_do(hub, tmp_path, monkeypatch, capsys):
    model = tiny_model(seed=7)
    with pytest.raises(CheckpointError, match=r"push_to_hub='\./x' is not a Hugging Face Hub id"):
        model.save_pretrained(tmp_path / "never", push_to_hub="./x")
    assert not (tmp_path / "never").exists()  # checked before saving
    with pytest.raises(CheckpointError, match="push_to_hub=True is not"):
        model.save_pretrained(tmp_path / "never", push_to_hub=True)

    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(CheckpointError, match=r"me/x: the Hub refused the token \(401\).* write access to me"):
        model.save_pretrained(tmp_path / "ckpt", push_to_hub="me/x")
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()  # saved all the same

    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(SystemExit) as no_token:
        main(["push", str(tmp_path / "ckpt"), "me/x"])
    assert no_token.value.code == 2
    err = capsys.readouterr().err
    assert "me/x needs a Hugging Face token with write access: log in with `hf auth login` or set HF_TOKEN" in err
    assert f"morph push {tmp_path / 'ckpt'} me/x" in err

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(CheckpointError, match=rf"me/x: cannot reach the Hub at http://127.0.0.1:{port} .*check the "
                                              r"connection \(and HF_ENDPOINT\), then push the saved checkpoint again"):
        push_to_hub(tmp_path / "ckpt", "me/x")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="me/x: HF_HUB_OFFLINE is set; unset it"):
        push_to_hub(tmp_path / "ckpt", "me/x")
    assert hub.repos == {}
