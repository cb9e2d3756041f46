"""Private Redis Cluster and Sentinel set-ups for the contract suite and fail-over tests.

Real servers on free loopback ports, never the machine's shared Redis: a three-node
Cluster made with ``redis-cli --cluster create``, and a primary + replica watched by
one Sentinel (quorum 1, a primary counts as down after one second) so a test can
kill the primary and see the store follow the promoted replica.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from .servers import _wait_listening, free_port

SERVICE = "idp-primary"


def _distinct_ports(count: int) -> list[int]:
    """Free ports, all different (two quick calls can be handed the same one)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster-bus port (port + 10000) is free and below 65536 too:
    a node on an ephemeral port above 55535 cannot start."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 55000)
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


def _redis_server(workdir: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(workdir), *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_listening(port)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def _until(check, *, timeout: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


@contextmanager
def own_redis_cluster() -> Iterator[str]:
    """Three primaries, no replicas; yields a ``redis+cluster://`` URL naming one node."""
    workdir = Path(tempfile.mkdtemp(prefix="idp-redis-cluster-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ports = _cluster_ports(3)
        for port in ports:
            node = workdir / str(port)
            node.mkdir()
            processes.append(
                _redis_server(
                    node,
                    port,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "2000",
                )
            )
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            client = redis.Redis(port=port, decode_responses=True)
            _until(
                lambda c=client: c.cluster("info")["cluster_state"] == "ok",
                what=f"cluster state ok on {port}",
            )
            client.close()
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class SentinelSetup:
    url: str
    primary_port: int
    replica_port: int
    processes: dict[str, subprocess.Popen[bytes]]

    def kill_primary(self) -> None:
        _stop(self.processes["primary"])

    def current_primary_port(self, sentinel_port: int) -> int:
        client = redis.Redis(port=sentinel_port, decode_responses=True)
        try:
            host, port = client.sentinel_get_master_addr_by_name(SERVICE)
            return int(port)
        finally:
            client.close()


@contextmanager
def own_redis_sentinel() -> Iterator[tuple[SentinelSetup, int]]:
    """A primary, its replica, one Sentinel; yields the setup and the Sentinel's port."""
    workdir = Path(tempfile.mkdtemp(prefix="idp-redis-sentinel-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        primary_port, replica_port, sentinel_port = _distinct_ports(3)
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stack.callback(lambda: [_stop(p) for p in processes.values()])
        for name, port, extra in (
            ("primary", primary_port, ()),
            ("replica", replica_port, ("--replicaof", "127.0.0.1", str(primary_port))),
        ):
            node = workdir / name
            node.mkdir()
            processes[name] = _redis_server(node, port, *extra)
        config = workdir / "sentinel.conf"
        config.write_text(
            "\n".join(
                [
                    f"port {sentinel_port}",
                    "bind 127.0.0.1",
                    f"dir {workdir}",
                    f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1",
                    f"sentinel down-after-milliseconds {SERVICE} 1000",
                    f"sentinel failover-timeout {SERVICE} 4000",
                    "",
                ]
            )
        )
        log = (workdir / "sentinel.log").open("wb")
        stack.callback(log.close)
        processes["sentinel"] = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_listening(sentinel_port)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {(workdir / 'sentinel.log').read_text()[-2000:]}") from exc
        sentinel = redis.Redis(port=sentinel_port, decode_responses=True)
        stack.callback(sentinel.close)
        _until(
            lambda: len(sentinel.sentinel_slaves(SERVICE)) == 1,
            what="the Sentinel to see the replica",
        )
        replica = redis.Redis(port=replica_port, decode_responses=True)
        stack.callback(replica.close)
        _until(
            lambda: replica.info("replication").get("master_link_status") == "up",
            what="the replica to sync",
        )
        setup = SentinelSetup(
            url=f"redis+sentinel://127.0.0.1:{sentinel_port}/{SERVICE}/0",
            primary_port=primary_port,
            replica_port=replica_port,
            processes=processes,
        )
        yield setup, sentinel_port
