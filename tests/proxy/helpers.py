"""Shared pieces of the proxy tests: the skip for hosts without root or iptables."""

from __future__ import annotations

import os
import shutil

import pytest


def iptables_usable() -> bool:
    return os.geteuid() == 0 and shutil.which("iptables-restore") is not None


needs_iptables = pytest.mark.skipif(not iptables_usable(),
                                    reason="needs root and iptables (nf_tables)")
