"""Ray is the `ray` extra. Skyline starts it one way everywhere: a local cluster on node address
127.0.0.1 and free ports, in a private temp dir, without dashboard or usage stats -- or it joins
the cluster a user names (`ray://host:10001`, `auto`)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from types import ModuleType
from typing import Any

from skyline.errors import ConfigError


def ray_env(loopback: bool = True) -> None:
    """What Ray reads from the environment when imported: no usage stats, no GPU variables,
    and with `loopback` a node address of 127.0.0.1 (Ray otherwise replaces 127.0.0.1 by the
    host's routable address; this switch is its local-only mode)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def ray_module(loopback: bool = True) -> ModuleType:
    """`import ray` (see `ray_env`), with an error that names the extra."""
    ray_env(loopback)
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"scaling out needs Ray, which is not importable ({exc})",
            fix='pip install "skyline[ray]"',
        ) from exc
    return ray


def local_init_args(temp_dir: str, num_cpus: int | None = None) -> dict[str, Any]:
    """`ray.init` arguments for a private local cluster (also handed to Flower's backend)."""
    return {
        "_temp_dir": temp_dir,
        "_node_ip_address": "127.0.0.1",
        "include_dashboard": False,
        "num_cpus": num_cpus or os.cpu_count() or 1,
        "logging_level": logging.WARNING,
    }


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> ModuleType:
    """Ray, initialised in this process: joined to `address`, or a private local cluster.
    Idempotent; the local cluster and its temp dir go away when the process exits."""
    ray = ray_module(loopback=address is None or address.startswith(("127.", "localhost")))
    if ray.is_initialized():
        return ray
    logging.getLogger("ray").setLevel(logging.WARNING)
    if address:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError(
                f"could not join the Ray cluster at {address!r}: {exc}",
                fix="start it (`ray start --head`) or leave --address out for a local cluster",
            ) from exc
        return ray
    temp = tempfile.mkdtemp(prefix="skyray")
    # Arguments up to 1 MiB travel inside the task RPC instead of through the shared-memory
    # object store: a 400 KB activation then costs about 1 ms less per stage call (measured).
    ray.init(
        **local_init_args(temp, num_cpus), _system_config={"max_direct_call_object_size": 2**20}
    )

    def _cleanup() -> None:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)

    atexit.register(_cleanup)
    return ray
