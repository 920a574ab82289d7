"""HTTP route handlers; the generic resource routes live in ``resources``."""
