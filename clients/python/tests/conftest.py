"""Starts the real crm-server for the suite: built by cargo (any CARGO_TARGET_DIR), or the
binary named by $CRM_SERVER_BIN, on 127.0.0.1:0 with a fresh data directory."""

import json
import os
import pathlib
import re
import subprocess
import time

import grpc
import pytest

import crm_client

REPO = pathlib.Path(__file__).resolve().parents[3]


def server_binary() -> str:
    if os.environ.get("CRM_SERVER_BIN"):
        return os.environ["CRM_SERVER_BIN"]
    build = subprocess.run(
        ["cargo", "build", "--quiet", "--message-format=json", "-p", "crm-grpc", "--bin", "crm-server"],
        cwd=REPO, check=True, capture_output=True, text=True)
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") \
                and message["target"]["name"] == "crm-server":
            return message["executable"]
    raise RuntimeError("cargo built no crm-server")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("crm-data")
    log_path = data.parent / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [server_binary(), "--listen", "127.0.0.1:0", "--data-dir", str(data)],
            stderr=log, stdout=subprocess.DEVNULL)
    addr = None
    for _ in range(200):
        found = re.search(r"listening on ([0-9.]+:[0-9]+)", log_path.read_text())
        if found:
            addr = found.group(1)
            break
        if process.poll() is not None:
            break
        time.sleep(0.05)
    if addr is None:
        process.kill()
        raise RuntimeError(f"crm-server did not start:\n{log_path.read_text()}")
    yield addr
    process.terminate()
    assert process.wait(timeout=15) == 0, log_path.read_text()


@pytest.fixture
def channel(server):
    channel = crm_client.connect(server, origin="python-tests")
    grpc.channel_ready_future(channel).result(timeout=10)
    yield channel
    channel.close()
