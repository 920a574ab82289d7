"""ServiceAccounts (pkg/registry/core/serviceaccount/strategy.go): the default rules; the
Table counts the Secrets (printers.go printServiceAccount). The ``token`` subresource
(TokenRequest) is served by apiserver/auth/tokenrequest.py."""

from __future__ import annotations

from datetime import datetime

from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of


class ServiceAccountStrategy(Strategy):
    spec_and_status = False
    columns = [NAME, column("Secrets", "integer",
                            description="Secrets is a list of the secrets in the same namespace "
                                        "that pods running using this ServiceAccount are "
                                        "allowed to use."), AGE]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        secrets = obj.get("secrets")
        n = len(secrets) if isinstance(secrets, list) else 0
        return [name_of(obj), n, age_of(obj, now)], []
