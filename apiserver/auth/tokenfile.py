"""The static token file (``--token-auth-file``; staging/src/k8s.io/apiserver/pkg/
authentication/token/tokenfile): CSV lines ``token,user,uid[,"group1,group2"]``, read once
at start. A token not in the file is not of this kind: the next authenticator is asked.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from apiserver.auth.user import UserInfo

log = logging.getLogger("apiserver")


class TokenFileError(ValueError):
    pass


def parse(text: str, source: str = "token file") -> dict[str, UserInfo]:
    tokens: dict[str, UserInfo] = {}
    for n, record in enumerate(csv.reader(text.splitlines()), start=1):
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) < 3:
            raise TokenFileError(f"token file '{source}' must have at least 3 columns "
                                 f"(token, user name, user uid), found {len(record)}")
        token, name, uid = (f.strip() for f in record[:3])
        if not token:
            log.warning("%s line %d: empty token, skipping", source, n)
            continue
        if token in tokens:
            log.warning("%s line %d: duplicate token, the later one wins", source, n)
        groups: tuple[str, ...] = ()
        if len(record) >= 4 and record[3].strip():
            groups = tuple(g.strip() for g in record[3].split(",") if g.strip())
        tokens[token] = UserInfo(name, uid, groups)
    return tokens


class TokenFile:
    def __init__(self, tokens: dict[str, UserInfo]) -> None:
        self.tokens = tokens

    @classmethod
    def load(cls, path: str) -> TokenFile:
        return cls(parse(Path(path).read_text(), path))

    async def __call__(self, token: str) -> UserInfo | None:
        return self.tokens.get(token)
