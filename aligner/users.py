"""Who may sign in to the review app: a JSON file of users with salted scrypt password hashes.

`aligner users add NAME --dataset DATASET` writes `DATASET/.aligner/users.json` (or `--file`):
`{"users": {NAME: {"role": "curator" | "admin", "password": "scrypt$n$r$p$SALT$HASH"}}}`.
A user without a password may only sign in through the deployment's OIDC provider (`st.login`),
matched by e-mail or name. Only the standard library is used (hashlib.scrypt).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from aligner.atomic import atomic_write
from aligner.errors import AlignerError, InputError

USERS_FILE = "users.json"  # inside the workspace folder (DATASET/.aligner/)
ROLES = ("curator", "admin")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # ~16 MB and ~50 ms per check on this machine
SALT_BYTES = 16
MIN_PASSWORD_CHARS = 8


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing: `scrypt$n$r$p$salt_hex$hash_hex`."""
    salt = os.urandom(SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches a `hash_password` string (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(digest) // 2, maxmem=2**26,
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def load_users(path: Path) -> dict[str, dict]:
    """NAME -> {"role", "password"?}; an empty dict when the file does not exist."""
    if not path.exists():
        return {}
    try:
        users = json.loads(path.read_text(encoding="utf-8")).get("users", {})
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a users file ({err})") from None
    if not isinstance(users, dict):
        raise InputError(path, '"users" must be an object of NAME: {role, password}')
    return users


def add_user(path: Path, name: str, password: str | None, *, role: str = "curator") -> None:
    """Add or replace a user. `password` None: OIDC sign-in only."""
    name = name.strip()
    if not name:
        raise AlignerError("a user name must not be empty")
    if role not in ROLES:
        raise AlignerError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if password is not None and len(password) < MIN_PASSWORD_CHARS:
        raise AlignerError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    users = load_users(path)
    users[name] = {"role": role}
    if password is not None:
        users[name]["password"] = hash_password(password)
    text = json.dumps({"users": users}, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda f: f.write(text), mode="w")
    os.chmod(path, 0o600)  # hashes only, but nobody else needs to read them


def check_sign_in(path: Path, name: str, password: str) -> str | None:
    """The user's role when NAME / password match the file, else None."""
    user = load_users(path).get(name.strip())
    if not user or "password" not in user or not verify_password(password, user["password"]):
        return None
    return user.get("role", "curator")


def oidc_role(path: Path, identity: str) -> str:
    """Role of an OIDC identity (e-mail or name) listed in the users file; others are curators."""
    user = load_users(path).get(identity) or {}
    return user.get("role", "curator")
