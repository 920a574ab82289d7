"""Stage the minik8s image's build context on the host: deploy/.build/minik8s/{venv,app}.

The image is two COPY layers on the Debian base (python3 3.11, bookworm), with no pip and no
network inside the build:

- ``venv/``: a virtual environment for the image's /usr/bin/python3 (pyvenv.cfg, bin/python3
  -> /usr/bin/python3, the console scripts of [project.scripts]) whose site-packages holds the
  dependencies of pyproject.toml, installed by the host's pip for CPython 3.11 on manylinux
  (binary wheels only, whatever the host's own Python is), byte-compiled when the host runs
  3.11 too. Rebuilt only when the dependencies, the scripts or the platform change (its
  .stamp); otherwise left as it is, so Docker's layer cache keeps the layer.
- ``app/``: the project's packages ([tool.setuptools.packages.find] include), synced file by
  file (only changed files are rewritten, removed ones deleted) and byte-compiled likewise.
  The dashboard's front-end dependencies (dashboard/web/node_modules: xterm.js) are installed
  first with ``npm ci`` from its package-lock.json, when they are missing or older than it.

The .pyc files are unchecked-hash ones (PEP 552): the image is immutable, so Python loads them
without looking at the sources' mtimes, which COPY does not promise to keep.

    python deploy/images/minik8s/stage.py [--pip PYTHON]   # PYTHON -m pip installs the deps
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import platform
import py_compile
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "deploy" / ".build" / "minik8s"
PYVER = "3.11"  # bookworm's python3, the base image's (deploy/images/base/build.sh)
SITE = f"lib/python{PYVER}/site-packages"
GLIBC_MINOR = 36  # bookworm's glibc 2.36: every manylinux_2_N wheel with N <= 36 runs
STAGE_VERSION = "2"
COMPILE = sys.version_info[:2] == tuple(int(x) for x in PYVER.split("."))
SCRIPT = """#!/venv/bin/python3
import sys
from {module} import {func}
if __name__ == "__main__":
    sys.exit({func}())
"""


def platforms(machine: str) -> list[str]:
    tags = [f"manylinux_2_{n}_{machine}" for n in range(GLIBC_MINOR, 4, -1)]
    legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
    tags += [f"{name}_{machine}" for name in legacy]
    return tags


def compile_tree(tree: Path, files: list[Path] | None = None) -> int:
    """Byte-compiles ``files`` (default: every .py under ``tree``); returns how many."""
    if not COMPILE:
        return 0
    n = 0
    for src in files if files is not None else sorted(tree.rglob("*.py")):
        try:
            py_compile.compile(str(src), doraise=True, quiet=1,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            n += 1
        except py_compile.PyCompileError:
            pass  # as pip does: a module that does not compile stays source only
    return n


def stage_deps(project: dict[str, Any], python: str) -> str:
    meta = project["project"]
    deps: list[str] = list(meta["dependencies"])
    scripts: dict[str, str] = dict(meta.get("scripts", {}))
    machine = platform.machine()
    key = hashlib.sha256(json.dumps(
        [STAGE_VERSION, PYVER, machine, COMPILE, deps, scripts]).encode()).hexdigest()
    venv = OUT / "venv"
    stamp = venv / ".stamp"
    if stamp.is_file() and stamp.read_text() == key:
        return "dependencies already staged"
    tmp = OUT / "venv.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    site = tmp / SITE
    site.mkdir(parents=True)
    req = OUT / "requirements.txt"
    req.write_text("\n".join(deps) + "\n")
    # --no-compile: compile_tree below writes the .pyc files the image wants (pip's own
    # would be timestamp-checked ones, and twice the work).
    cmd = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
           "--no-warn-script-location", "--target", str(site), "--only-binary=:all:",
           "--implementation", "cp", "--python-version", PYVER]
    for tag in platforms(machine):
        cmd += ["--platform", tag]
    subprocess.run([*cmd, "-r", str(req)], check=True)
    # pip's own scripts of the dependencies point at the host's interpreter: not wanted.
    shutil.rmtree(site / "bin", ignore_errors=True)
    (tmp / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {PYVER}\n")
    bindir = tmp / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to("/usr/bin/python3")
    (bindir / "python").symlink_to("python3")
    (bindir / f"python{PYVER}").symlink_to("python3")
    (tmp / "lib64").symlink_to("lib")
    for name, target in scripts.items():
        module, _, func = target.partition(":")
        path = bindir / name
        path.write_text(SCRIPT.format(module=module, func=func))
        path.chmod(0o755)
    compiled = compile_tree(site)
    stamp_tmp = tmp / ".stamp"
    stamp_tmp.write_text(key)
    shutil.rmtree(venv, ignore_errors=True)
    tmp.rename(venv)
    return f"dependencies staged ({len(deps)} requirements, {compiled} modules compiled)"


def stage_app(project: dict[str, Any]) -> str:
    include: list[str] = project["tool"]["setuptools"]["packages"]["find"]["include"]
    app = OUT / "app"
    app.mkdir(parents=True, exist_ok=True)
    wanted: dict[Path, Path] = {}
    for top in sorted(ROOT.iterdir()):
        if not (top / "__init__.py").is_file():
            continue
        if not any(fnmatch.fnmatchcase(top.name, pat) for pat in include):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if f.endswith((".pyc", ".pyo")):
                    continue
                src = Path(dirpath) / f
                wanted[src.relative_to(ROOT)] = src
    changed: list[Path] = []
    for rel, src in wanted.items():
        dst = app / rel
        st = src.stat()
        try:
            dt = dst.stat()
            if dt.st_size == st.st_size and dt.st_mtime_ns == st.st_mtime_ns:
                continue
        except FileNotFoundError:
            dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        if dst.suffix == ".py":
            changed.append(dst)
    removed = 0
    for dirpath, _dirnames, filenames in os.walk(app, topdown=False):
        d = Path(dirpath)
        for f in filenames:
            p = d / f
            rel = p.relative_to(app)
            if rel in wanted:
                continue
            if p.suffix == ".pyc" and p.parent.name == "__pycache__":
                source = p.parent.parent / (p.name.split(".")[0] + ".py")
                if source.relative_to(app) in wanted and COMPILE:
                    continue
            p.unlink()
            removed += 1
        if d != app and not any(d.iterdir()):
            d.rmdir()
    compiled = compile_tree(app, changed)
    # What the image's layers are made of, for deploy/up.sh's "nothing changed" check.
    listing = sorted((str(rel), src.stat().st_size, src.stat().st_mtime_ns)
                     for rel, src in wanted.items())
    deps_key = (OUT / "venv" / ".stamp").read_text() if (OUT / "venv" / ".stamp").is_file() else ""
    (OUT / ".fingerprint").write_text(hashlib.sha256(
        json.dumps([deps_key, COMPILE, listing]).encode()).hexdigest() + "\n")
    return (f"project staged ({len(wanted)} files, {len(changed)} changed, {removed} removed, "
            f"{compiled} compiled)")


def stage_dashboard_assets() -> str:
    """``npm ci`` in dashboard/web when its node_modules is missing or older than the lock
    file (npm writes node_modules/.package-lock.json on every install)."""
    web = ROOT / "dashboard" / "web"
    lock = web / "package-lock.json"
    done = web / "node_modules" / ".package-lock.json"
    if not lock.is_file():
        return "no dashboard assets"
    if done.is_file() and done.stat().st_mtime_ns >= lock.stat().st_mtime_ns:
        return "dashboard assets up to date"
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed for the dashboard's assets (apt-get install npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=web,
                   check=True)
    return "dashboard assets installed (npm ci)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip", default=sys.executable,
                        help="the Python whose pip installs the dependencies")
    parser.add_argument("--only", choices=["deps", "app"], help="stage one part only")
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    if args.only != "app":
        print(stage_deps(project, args.pip))
    if args.only != "deps":
        print(stage_dashboard_assets())
        print(stage_app(project))


if __name__ == "__main__":
    main()
