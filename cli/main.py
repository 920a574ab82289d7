"""minictl: kubectl's everyday commands for minik8s, plus ``trace``.

Every failure ends here as one line on stderr and exit code 1: the API server's Status in
kubectl's words, a usage error with a pointer to ``--help``, or an unreachable server.
Nothing a user types may end in a Python traceback, so the group's ``main`` catches all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import click

from cli import (
    api_resources,
    apply_cmd,
    auth_can_i,  # noqa: F401  (adds can-i to auth)
    auth_cmd,
    autoscale,
    bootstrap_cmds,
    config_cmd,
    create,
    create_config,  # noqa: F401  (adds configmap and secret to create)
    create_cronjob,  # noqa: F401  (adds cronjob to create)
    create_ingress,  # noqa: F401  (adds ingress to create)
    create_job,  # noqa: F401  (adds job to create)
    create_pdb,  # noqa: F401  (adds poddisruptionbudget to create)
    create_quota,  # noqa: F401  (adds quota to create)
    create_rbac,  # noqa: F401  (adds role, clusterrole and the bindings to create)
    create_serviceaccount,  # noqa: F401  (adds serviceaccount and token to create)
    debug_cmd,
    delete,
    describe,
    describe_certificates,  # noqa: F401  (describes CertificateSigningRequest)
    describe_ingress,  # noqa: F401  (describes Ingress and IngressClass)
    describe_networkpolicy,  # noqa: F401  (describes NetworkPolicy)
    describe_policy,  # noqa: F401  (describes PodDisruptionBudget)
    describe_quota,  # noqa: F401  (describes ResourceQuota and LimitRange)
    describe_rbac,  # noqa: F401  (describes the RBAC kinds)
    describe_storage,  # noqa: F401  (describes PersistentVolume, claims, StorageClass)
    diff_cmd,
    drain,
    edit,
    events_cmd,
    exec_cmd,
    explain,
    expose,
    get,
    info,
    label,
    logs,
    node_cmds,
    patch_cmd,
    portforward_cmd,
    rollout,
    top,
    trace,
    wait_cmd,
    workload,
)
from cli.context import State
from cli.errors import CliError, format_api_error
from client import rest
from client.errors import ApiError


class MinictlGroup(click.Group):
    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> NoReturn:
        st = State()
        extra.setdefault("obj", st)
        code = 0
        try:
            rv = super().main(args=args, prog_name=prog_name or "minictl",
                              complete_var=complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.Abort:
            code = 130
        except click.UsageError as exc:
            path = exc.ctx.command_path if exc.ctx else "minictl"
            click.echo(f"error: {exc.format_message()}", err=True)
            click.echo(f"See '{path} --help' for usage.", err=True)
            code = 1
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            code = 1
        except CliError as exc:
            click.echo(f"error: {exc.message}", err=True)
            code = exc.exit_code
        except ApiError as exc:
            click.echo(format_api_error(exc, st.server_safe()), err=True)
            code = 1
        except KeyboardInterrupt:
            code = 130
        except BrokenPipeError:
            code = 0  # `minictl get pods | head`: the reader left, nothing went wrong
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception as exc:  # the promise: never a traceback
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            code = 1
        finally:
            st.close()
        sys.exit(code)


@click.group("minictl", cls=MinictlGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                 "max_content_width": 100})
@click.option("-s", "--server", metavar="URL",
              help="The API server (default: $MINIK8S_SERVER, then ~/.minik8s/config, "
                   "then http://127.0.0.1:8080).")
@click.option("-n", "--namespace", metavar="NS", help="The namespace (default: default).")
@click.pass_context
def cli(ctx: click.Context, server: str | None, namespace: str | None) -> None:
    """minictl controls a minik8s cluster, the way kubectl controls Kubernetes.

    \b
    Start here:
      minictl create deployment nginx --replicas=3
      minictl get pods -o wide
      minictl trace deployment/nginx
    """
    st = ctx.ensure_object(State)
    st.server_flag = server or st.server_flag
    st.namespace_flag = namespace or st.namespace_flag
    rest.warning_handler = _warning_printer()


def _warning_printer() -> Callable[[str], None]:
    """The server's Warning headers on stderr, each once per command, as kubectl's
    deduplicating warning writer prints them."""
    seen: set[str] = set()

    def warn(text: str) -> None:
        if text not in seen:
            seen.add(text)
            click.echo(f"Warning: {text}", err=True)

    return warn


def _register() -> None:
    cli.add_command(get.get_cmd)
    cli.add_command(describe.describe_cmd)
    cli.add_command(create.create_cmd)
    cli.add_command(create.run_cmd)
    cli.add_command(delete.delete_cmd)
    cli.add_command(apply_cmd.apply_cmd)
    cli.add_command(label.label_cmd)
    cli.add_command(label.annotate_cmd)
    cli.add_command(patch_cmd.patch_cmd)
    cli.add_command(edit.edit_cmd)
    cli.add_command(diff_cmd.diff_cmd)
    cli.add_command(wait_cmd.wait_cmd)
    cli.add_command(expose.expose_cmd)
    cli.add_command(autoscale.autoscale_cmd)
    cli.add_command(workload.scale_cmd)
    cli.add_command(workload.set_cmd)
    cli.add_command(rollout.rollout_cmd)
    cli.add_command(logs.logs_cmd)
    cli.add_command(events_cmd.events_cmd)
    cli.add_command(exec_cmd.exec_cmd)
    cli.add_command(debug_cmd.debug_cmd)
    cli.add_command(debug_cmd.attach_cmd)
    cli.add_command(portforward_cmd.port_forward_cmd)
    cli.add_command(trace.trace_cmd)
    cli.add_command(top.top_cmd)
    cli.add_command(info.cluster_info_cmd)
    cli.add_command(info.version_cmd)
    cli.add_command(node_cmds.cordon_cmd)
    cli.add_command(node_cmds.uncordon_cmd)
    cli.add_command(node_cmds.taint_cmd)
    cli.add_command(drain.drain_cmd)
    cli.add_command(api_resources.api_resources_cmd)
    cli.add_command(auth_cmd.auth_cmd)
    config_cmd.register(cli)
    cli.add_command(explain.explain_cmd)
    cli.add_command(bootstrap_cmds.token_cmd)
    cli.add_command(bootstrap_cmds.certificate_cmd)
    cli.add_command(bootstrap_cmds.join_cmd)


_register()


def main() -> None:
    cli.main(prog_name="minictl")
