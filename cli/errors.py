"""How minictl reports failures: one line, kubectl's wording, exit code 1."""

from __future__ import annotations

from urllib.parse import urlsplit

from client.errors import ApiError, ServerUnavailable


class CliError(Exception):
    """A failure the user caused or can act on; printed as one line (``error: ...``)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _host_port(server: str) -> str:
    u = urlsplit(server if "://" in server else "http://" + server)
    port = u.port or (443 if u.scheme == "https" else 80)
    return f"{u.hostname}:{port}"


def _refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return True
        text = str(cur).lower()
        if "connection refused" in text or "errno 111" in text or "connect call failed" in text:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def format_api_error(exc: ApiError, server: str) -> str:
    if isinstance(exc, ServerUnavailable):
        if _refused(exc):
            return (f"The connection to the server {_host_port(server)} was refused "
                    "- did you specify the right host or port?")
        cause = exc.__cause__
        detail = f"{cause}" if cause is not None and str(cause) else exc.message
        return f"Unable to connect to the server: {detail}"
    message = " ".join((exc.message or "").split()) or f"HTTP {exc.code}"
    if exc.reason == "Invalid":
        return _invalid(exc, message)
    return f"Error from server ({exc.reason or 'Unknown'}): {message}"


def _invalid(exc: ApiError, message: str) -> str:
    """kubectl's words for a 422 (cmdutil checkErr): ``The Kind "name" is invalid: `` and the
    causes as ``field: message`` (one line here, where kubectl lists several as bullets)."""
    d = exc.status.details
    if d is None:
        return "The request is invalid" + (f": {message}" if message else "")
    if d.kind or d.name:
        head = f'The {d.kind or ""} "{d.name or ""}" is invalid'
    else:
        head = "The request is invalid" + (f": {message}" if message else "")
    if not d.causes:
        return head
    causes = [f"{field}: {msg}" if field else (msg or "") for _, msg, field in exc.causes]
    return f"{head}: " + ", ".join(" ".join(c.split()) for c in causes)
