"""ServiceAccounts and TokenRequests: ValidateServiceAccount (pkg/apis/core/validation;
the name and metadata are all it checks) and ValidateTokenRequest
(pkg/apis/authentication/validation)."""

from __future__ import annotations

from typing import Any

from api.validation.field import JSON, Errs, as_dict, as_list, as_str, at_index, child, invalid

MIN_TOKEN_SECONDS = 10 * 60  # MinTokenAgeSec
MAX_TOKEN_SECONDS = 1 << 32
DEFAULT_TOKEN_SECONDS = 3600  # SetDefaults_TokenRequestSpec


def validate_service_account(obj: JSON) -> Errs:
    errs: Errs = []
    for i, ref in enumerate(as_list(errs, obj.get("secrets"), "secrets")):
        as_dict(errs, ref, at_index("secrets", i))
    for i, ref in enumerate(as_list(errs, obj.get("imagePullSecrets"), "imagePullSecrets")):
        as_dict(errs, ref, at_index("imagePullSecrets", i))
    return errs


def validate_token_request(obj: JSON, min_seconds: int = MIN_TOKEN_SECONDS) -> Errs:
    """``min_seconds`` is 10 minutes, as Kubernetes; a test server may lower it."""
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    path = child("spec", "expirationSeconds")
    exp: Any = spec.get("expirationSeconds")
    if exp is not None:
        if not isinstance(exp, int) or isinstance(exp, bool):
            errs.append(invalid(path, exp, "must be an integer"))
        elif exp < min_seconds:
            errs.append(invalid(path, exp, "may not specify a duration less than 10 minutes"))
        elif exp > MAX_TOKEN_SECONDS:
            errs.append(invalid(path, exp, "may not specify a duration larger than 2^32 seconds"))
    for i, a in enumerate(as_list(errs, spec.get("audiences"), child("spec", "audiences"))):
        as_str(errs, a, at_index(child("spec", "audiences"), i))
    ref = spec.get("boundObjectRef")
    if ref is not None:
        as_dict(errs, ref, child("spec", "boundObjectRef"))
    return errs
