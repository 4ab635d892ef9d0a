"""Connecting to Ray: a running cluster by address, or a local instance on this machine."""

from __future__ import annotations

import os
from contextlib import contextmanager

from aligner.errors import AlignerError


def require_ray():
    """The `ray` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise AlignerError(
            "Ray is not installed: pip install 'aligner[scale]' (ray[data] and ray[train])"
        ) from err
    return ray


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None):
    """`ray.init(address=...)` for a cluster ("auto": the one this machine belongs to), else a
    local instance with `num_cpus` (default: all cores). Reuses an instance this process already
    started (tests share one); shuts down only what it started itself."""
    ray = require_ray()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token warning on a private cluster
    if ray.is_initialized():
        yield ray
        return
    kwargs = {"address": address} if address else {"num_cpus": num_cpus}
    try:
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    except ConnectionError as err:
        raise AlignerError(f"cannot reach the Ray cluster at {address!r} ({err})") from None
    try:
        yield ray
    finally:
        ray.shutdown()
