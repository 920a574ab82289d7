"""The exec stream protocol shared by kubelet, API server and clients (as in Kubernetes'
apimachinery util/remotecommand): WebSocket subprotocols, channel numbers, and the
Status the error channel carries at the end of a command.
"""

from __future__ import annotations

from typing import Any

# Newest first: the order a client offers them in. v5 adds the close signal (stdin EOF).
PROTOCOL_V5 = "v5.channel.k8s.io"
PROTOCOL_V4 = "v4.channel.k8s.io"
PROTOCOLS = (PROTOCOL_V5, PROTOCOL_V4)

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: [255, channel] says the sender is done writing that channel

NON_ZERO_EXIT_CODE_REASON = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"


def go_list(args: list[str]) -> str:
    """A []string as Go's %v prints it: ``[sh -c exit 3]``."""
    return "[" + " ".join(args) + "]"


def exit_status(command: list[str], code: int) -> dict[str, Any]:
    """What the error channel carries when the command has ended with ``code``."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command "
                       f"{go_list(command)}, exit code {code}",
            "reason": NON_ZERO_EXIT_CODE_REASON,
            "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(code)}]}}


def internal_error_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure",
            "message": f"Internal error occurred: {message}", "reason": "InternalError",
            "details": {"causes": [{"message": message}]}, "code": 500}


def status_exit_code(status: dict[str, Any]) -> int | None:
    """The remote command's exit code a Status reports: 0 on Success, N for
    NonZeroExitCode, None for any other failure (the command did not run)."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == NON_ZERO_EXIT_CODE_REASON:
        for cause in (status.get("details") or {}).get("causes") or []:
            if isinstance(cause, dict) and cause.get("reason") == EXIT_CODE_CAUSE:
                try:
                    return int(cause.get("message", ""))
                except ValueError:
                    return None
    return None
