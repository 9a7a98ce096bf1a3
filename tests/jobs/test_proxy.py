"""A corporate network where only a proxy reaches Google: the default
transport goes through HTTPS_PROXY / HTTP_PROXY, and NO_PROXY is honoured.
The proxy is a small real forward proxy on loopback; the job runs as a user
runs it, in a process of its own with the variables set."""
import http.client
import os
import subprocess
import sys
import urllib.parse

from tests.support.servers import ROOT
from tests.support.local_http import QuietHandler, serving
from tests.support.pipeline_runs import read_table, write_jsonl


class _ForwardProxy(QuietHandler):
    """Forwards absolute-URI requests (what a client sends an HTTP proxy)."""
    protocol_version = "HTTP/1.1"
    forwarded = 0

    def do_POST(self):  # noqa: N802 - the http.server API
        target = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-connection", "connection", "host")}
        connection.request("POST", target.path + (f"?{target.query}" if target.query else ""),
                           body, headers)
        answer = connection.getresponse()
        data = answer.read()
        type(self).forwarded += 1
        self.answer(answer.status, data, answer.getheader("content-type") or "",
                    [(k, v) for k, v in answer.getheaders() if k.lower() not in (
                        "transfer-encoding", "connection", "content-length", "content-type")])


def forward_proxy():
    _ForwardProxy.forwarded = 0
    return serving(_ForwardProxy)


def _run(sample, out, endpoint, **variables):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "--input", str(sample), "--output", str(out),
         "--endpoint", endpoint, "--progress_s", "0"],
        cwd=ROOT, env={**env, **variables}, capture_output=True, text=True, timeout=300)


def test_calls_go_through_the_proxy_the_environment_names(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl",
                         [{"id": f"p{i}", "prompt": f"question {i}"} for i in range(6)])
    with forward_proxy() as proxy:
        job = _run(sample, tmp_path / "through", emulator.url, HTTP_PROXY=proxy,
                   HTTPS_PROXY=proxy)
        assert job.returncode == 0, job.stderr
        assert _ForwardProxy.forwarded == 6 == emulator.stats()["requests"]
        assert len(read_table(tmp_path / "through", "responses")) == 6

        _ForwardProxy.forwarded = 0
        job = _run(sample, tmp_path / "direct", emulator.url, HTTP_PROXY=proxy,
                   NO_PROXY="127.0.0.1")
        assert job.returncode == 0, job.stderr
        assert _ForwardProxy.forwarded == 0  # NO_PROXY: straight to the server
        assert len(read_table(tmp_path / "direct", "responses")) == 6
