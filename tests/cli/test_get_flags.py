"""minictl get's flags against the real kubectl on the same objects: -L, --show-labels,
--sort-by (tables and object formats, missing fields), get -f, -A with names, --no-headers."""

from __future__ import annotations

import re
from pathlib import Path

from testing.kubectl import Kubectl
from tests.cli.helpers import cells, fails, mctl, ok

AGE = re.compile(r"^\d+(s|m\d*s?|h\d*m?|d\d*h?|y\d*d?)$")


def masked(text: str) -> list[list[str]]:
    """A table's cells with ages masked (the two commands run a second apart)."""
    return [["<age>" if AGE.match(c) else c for c in cells(ln)] for ln in text.splitlines()]


def seed(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "run", "pod-10", "--image", "nginx",
       "-l", "app=web,tier=fe,example.com/team=blue")
    ok(server_url, "-n", ns, "run", "pod-2", "--image", "busybox", "-l", "app=db")
    ok(server_url, "-n", ns, "run", "pod-1", "--image", "redis", "-l", "app=web,tier=be")


def test_label_columns_and_show_labels_as_kubectl(server_url: str, ns: str,
                                                   kubectl: Kubectl) -> None:
    seed(server_url, ns)
    args = ("-n", ns, "get", "pods", "-L", "tier,example.com/team", "--show-labels")
    mine = ok(server_url, *args)
    assert mine.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE",
                                            "TIER", "TEAM", "LABELS"]
    assert masked(mine) == masked(kubectl(*args).stdout)
    # -L repeated and with -o wide; the header lines up with its cells.
    args2 = ("-n", ns, "get", "pods", "-L", "app", "-L", "tier", "-o", "wide", "--no-headers")
    assert masked(ok(server_url, *args2)) == masked(kubectl(*args2).stdout)


def test_sort_by_tables_and_names_as_kubectl(server_url: str, ns: str,
                                             kubectl: Kubectl) -> None:
    seed(server_url, ns)
    for path in (".metadata.name", "{.spec.containers[0].image}", ".metadata.labels.tier",
                 ".metadata.creationTimestamp"):
        for extra in ((), ("-o", "name"), ("-o", "wide")):
            args = ("-n", ns, "get", "pods", f"--sort-by={path}", *extra)
            assert masked(ok(server_url, *args)) == masked(kubectl(*args).stdout), args
    # Strings byte-wise, quantities as quantities.
    names = ok(server_url, "-n", ns, "get", "pods", "--sort-by=.metadata.name", "-o", "name")
    assert names.split() == ["pod/pod-1", "pod/pod-10", "pod/pod-2"]
    for name, size in (("pod-1", "100"), ("pod-2", "20"), ("pod-10", "500m")):
        kubectl("-n", ns, "label", "pod", name, f"size={size}")
    args = ("-n", ns, "get", "pods", "--sort-by=.metadata.labels.size", "-o", "name")
    assert ok(server_url, *args).split() == kubectl(*args).stdout.split() == [
        "pod/pod-10", "pod/pod-2", "pod/pod-1"]
    # Named objects are sorted in the object formats; in tables, kubectl sorts the several
    # Tables as objects and fails (so does minictl), and one named object is just printed.
    args = ("-n", ns, "get", "pods", "pod-2", "pod-10", "--sort-by=.metadata.name")
    assert ok(server_url, *args, "-o", "name").split() == ["pod/pod-10", "pod/pod-2"]
    k = kubectl(*args, check=False)
    assert k.returncode == 1 and fails(server_url, *args) == k.stderr.strip()
    args = ("-n", ns, "get", "pods", "pod-2", "--sort-by=.metadata.name")
    assert masked(ok(server_url, *args)) == masked(kubectl(*args).stdout)


def test_sort_by_a_field_no_object_has(server_url: str, ns: str, kubectl: Kubectl) -> None:
    seed(server_url, ns)
    # Tables: kubectl prints no rows and says so; the object formats fail.
    r = mctl(server_url, "-n", ns, "get", "pods", "--sort-by=.status.nope")
    k = kubectl("-n", ns, "get", "pods", "--sort-by=.status.nope")
    assert (r.exit_code, r.stdout, r.stderr) == (0, k.stdout, k.stderr)
    err = fails(server_url, "-n", ns, "get", "pods", "--sort-by=.status.nope", "-o", "name")
    k = kubectl("-n", ns, "get", "pods", "--sort-by=.status.nope", "-o", "name", check=False)
    assert k.returncode == 1 and err == k.stderr.strip()


def test_get_from_files(server_url: str, ns: str, kubectl: Kubectl, tmp_path: Path) -> None:
    seed(server_url, ns)
    ok(server_url, "-n", ns, "create", "deployment", "web", "--image", "nginx")
    f = tmp_path / "m.yaml"
    f.write_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: pod-2, namespace: {ns}}}\n"
                 "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    args = ("-n", ns, "get", "-f", str(f))
    mine = ok(server_url, *args)
    assert masked(mine) == masked(kubectl(*args).stdout)
    assert [c[0] for c in masked(mine) if c] == ["NAME", "pod/pod-2", "NAME",
                                                 "deployment.apps/web"]
    assert ok(server_url, *args, "-o", "name").split() == ["pod/pod-2", "deployment.apps/web"]
    # From stdin, and a missing object: kubectl's NotFound line, exit code 1.
    text = f.read_text() + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: nope}\n"
    r = mctl(server_url, "-n", ns, "get", "-f", "-", "-o", "name", input=text)
    k = kubectl("-n", ns, "get", "-f", "-", "-o", "name", stdin=text, check=False)
    assert (r.exit_code, r.stdout, r.stderr) == (k.returncode, k.stdout, k.stderr)


def test_usage_errors_as_kubectl(server_url: str, ns: str, kubectl: Kubectl) -> None:
    seed(server_url, ns)
    for args in (("get", "pods", "pod-1", "-A"),):
        k = kubectl("-n", ns, *args, check=False)
        assert fails(server_url, "-n", ns, *args) == k.stderr.strip()
