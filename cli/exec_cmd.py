"""``minictl exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARGS...]``: run a command in a
container; minictl exits with the command's exit code, as kubectl does."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import sys
import termios
import threading
import tty as ttymod
from collections.abc import AsyncIterator, Iterator
from typing import Any

import click

from api.models import Pod
from api.wellknown import DEFAULT_CONTAINER_ANNOTATION
from cli.context import state
from cli.errors import CliError
from cli.options import common
from client.exec import exec_pod


class _ExecCommand(click.Command):
    """Remembers whether ``--`` separated the command, which kubectl requires."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["exec.dash"] = "--" in args
        return super().parse_args(ctx, args)


def _container(pod: Pod, wanted: str | None) -> str:
    names = [c.name for c in pod.spec.containers]
    if wanted:
        # any container of the pod: init and ephemeral ones too (podcmd.FindContainerByName)
        if wanted not in {*names, *(c.name for c in pod.spec.init_containers or []),
                          *(c.name for c in pod.spec.ephemeral_containers or [])}:
            raise CliError(f"container {wanted} is not valid for pod {pod.metadata.name} "
                           f"out of: {', '.join(names)}")
        return wanted
    default = (pod.metadata.annotations or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    name = default if default in names else names[0]
    if len(names) > 1:
        click.echo(f'Defaulted container "{name}" out of: {", ".join(names)}', err=True)
    return str(name)


def _stdin_chunks(fd: int) -> AsyncIterator[bytes]:
    """``fd`` read on a daemon thread: a blocked read must not keep minictl alive after
    the remote command has ended. The small queue makes the thread wait for the stream,
    so a fast source (``< /dev/zero``) is read only as fast as the command takes it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)

    def pump() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            try:
                asyncio.run_coroutine_threadsafe(queue.put(data), loop).result()
            except (RuntimeError, concurrent.futures.CancelledError):
                return  # the loop has ended: minictl is exiting
            if not data:
                return

    threading.Thread(target=pump, name="stdin", daemon=True).start()

    async def chunks() -> AsyncIterator[bytes]:
        while data := await queue.get():
            yield data
    return chunks()


def _sizes(fd: int) -> AsyncIterator[tuple[int, int]]:
    """The terminal's size now and after every SIGWINCH."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    loop.add_signal_handler(signal.SIGWINCH, changed.set)

    async def sizes() -> AsyncIterator[tuple[int, int]]:
        try:
            while True:
                size = os.get_terminal_size(fd)
                yield size.columns, size.lines
                await changed.wait()
                changed.clear()
        finally:
            loop.remove_signal_handler(signal.SIGWINCH)
    return sizes()


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _sink(stream: Any) -> Any:
    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()
    return write


@click.command("exec", cls=_ExecCommand)
@click.argument("pod")
@click.argument("command", nargs=-1)
@click.option("-c", "--container", help="The container (default: the pod's default or first).")
@click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass stdin to the container.")
@click.option("-t", "--tty", "tty", is_flag=True, help="Stdin is a TTY.")
@common
def exec_cmd(pod: str, command: tuple[str, ...], container: str | None, stdin: bool,
             tty: bool) -> int:
    """Execute a command in a container.

    \b
    Examples:
      minictl exec mypod -- date
      minictl exec mypod -c sidecar -- sh -c 'echo $HOSTNAME'
      echo hello | minictl exec -i mypod -- cat
      minictl exec -it mypod -- sh
    """
    ctx = click.get_current_context()
    if command and not ctx.meta.get("exec.dash"):
        raise click.UsageError("exec [POD] [COMMAND] is not supported anymore. "
                               "Use exec [POD] -- [COMMAND] instead")
    if not command:
        raise click.UsageError("you must specify at least one command for the container")
    st = state()
    p = st.client.get(Pod, pod, st.namespace)
    phase = p.status.phase if p.status else None
    if phase in ("Succeeded", "Failed"):
        raise CliError(f"cannot exec into a container in a completed pod; current phase is "
                       f"{phase}")
    name = _container(p, container)
    in_fd = sys.stdin.fileno() if stdin else -1
    if tty and not (stdin and os.isatty(in_fd)):
        click.echo("Unable to use a TTY - input is not a terminal or the right kind of file",
                   err=True)
        tty = False
    cfg = st.config  # --server, else the kubeconfig's context, ...: as every verb

    async def run() -> int:
        return await exec_pod(
            cfg.server, p.metadata.namespace or st.namespace, pod, list(command),
            container=name, tty=tty, token=cfg.token, ssl_context=st.ssl_context(),
            stdin=_stdin_chunks(in_fd) if stdin else None,
            sizes=_sizes(in_fd) if tty else None,
            stdout=_sink(sys.stdout.buffer), stderr=_sink(sys.stderr.buffer))

    with _raw(in_fd) if tty else contextlib.nullcontext():
        code = asyncio.run(run())
    if code:
        click.echo(f"command terminated with exit code {code}", err=True)
    return code
