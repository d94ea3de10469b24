"""The per-install admin token: what the services' admin routes take when ``ADMIN_TOKEN`` is not set.

A service never treats a caller's address as proof of anything (behind the gateway every caller is
loopback). So ``inventory-system up`` and ``inventory-system serve`` make sure a token exists: the
``ADMIN_TOKEN`` setting when given, else a random one created once per install in ``var/admin-token``
(mode 0600, readable by the user who runs the system) and read by every service started from the same
directory. ``inventory-system admin-token`` prints it, for ``curl -H "Authorization: Bearer ..."``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from sync.settings import VAR_DIR, Settings

TOKEN_FILE = VAR_DIR / "admin-token"


def load_or_create(path: Path = TOKEN_FILE) -> str:
    """The token stored at ``path``, created (random, 0600) when missing. Safe when several processes
    race: the file is written under a temporary name and linked into place, so all of them read one token."""
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another process was first: use its token
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text().strip()


def with_admin_token(settings: Settings, path: Path = TOKEN_FILE) -> Settings:
    """``settings`` with ``ADMIN_TOKEN`` filled from ``path`` (created if needed) when it is not set."""
    if settings.ADMIN_TOKEN is not None and settings.ADMIN_TOKEN.get_secret_value():
        return settings
    return settings.model_copy(update={"ADMIN_TOKEN": SecretStr(load_or_create(path))})
