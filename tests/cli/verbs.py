"""Side by side: the same command by minictl and by the real kubectl, each on its own copy of
the same objects (two namespaces), with the namespaces' names masked in what they print."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testing.apiclient import Api
from testing.kubectl import Kubectl
from tests.cli.helpers import mctl, post


@dataclass
class Run:
    code: int
    out: str
    err: str


class Pair:
    def __init__(self, server: str, kubectl: Kubectl, api: Api) -> None:
        self.server = server
        self.kubectl = kubectl
        self.ns_m = api.namespace()
        self.ns_k = api.namespace()

    def create(self, path: str, body: dict[str, Any]) -> None:
        """POST ``body`` to ``path`` (with ``{ns}``) in both namespaces."""
        for ns in (self.ns_m, self.ns_k):
            post(self.server, path.format(ns=ns), body)

    def _mask(self, text: str, ns: str) -> str:
        return text.replace(ns, "NS")

    def minictl(self, *args: str, input: str | None = None,
                env: dict[str, str] | None = None) -> Run:
        args = tuple(a.replace("{ns}", self.ns_m) for a in args)
        r = mctl(self.server, "-n", self.ns_m, *args, input=input, env=env)
        return Run(r.exit_code, self._mask(r.stdout, self.ns_m),
                   self._mask(r.stderr, self.ns_m))

    def kubectl_run(self, *args: str, input: str | None = None,
                    env: dict[str, str] | None = None) -> Run:
        args = tuple(a.replace("{ns}", self.ns_k) for a in args)
        if env:
            self.kubectl.env.update(env)
        p = self.kubectl("-n", self.ns_k, *args, stdin=input, check=False)
        return Run(p.returncode, self._mask(p.stdout, self.ns_k), self._mask(p.stderr, self.ns_k))

    def same(self, *args: str, input: str | None = None, code: int | None = None) -> Run:
        """Both print the same and exit alike; the run's result."""
        m = self.minictl(*args, input=input)
        k = self.kubectl_run(*args, input=input)
        assert (m.code, m.out, m.err) == (k.code, k.out, k.err), \
            f"{' '.join(args)}\nminictl: {m}\nkubectl: {k}"
        if code is not None:
            assert m.code == code, m
        return m
