"""Private Redis and PostgreSQL servers for fault tests: started on a free port, then
killed, frozen or restarted by the test, never the machine's shared servers.

``OwnRedis`` runs ``redis-server`` without persistence; ``kill`` (SIGKILL) is a
crash, ``freeze``/``thaw`` (SIGSTOP/SIGCONT) a hung server that still accepts TCP
connections but never answers, ``start`` brings it back on the same port.
``OwnPostgres`` is a throwaway cluster made with ``initdb`` as the ``postgres``
user (initdb refuses root), stopped and started with ``pg_ctl``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HAVE_POSTGRES = shutil.which("initdb") is not None and shutil.which("pg_ctl") is not None
HAVE_REDIS = shutil.which("redis-server") is not None

needs_postgres = pytest.mark.skipif(
    not HAVE_POSTGRES, reason="needs PostgreSQL's initdb and pg_ctl to start a private cluster"
)
needs_redis = pytest.mark.skipif(not HAVE_REDIS, reason="needs redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class OwnRedis:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_listening(self.port)

    def kill(self) -> None:
        """A crash: SIGKILL, connections reset, the port refuses until :meth:`start`."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def freeze(self) -> None:
        """A hung server: connections are accepted by the kernel but never answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.kill()


@contextmanager
def own_redis() -> Iterator[OwnRedis]:
    workdir = Path(tempfile.mkdtemp(prefix="idp-redis-"))
    server = OwnRedis(port=free_port(), workdir=workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class OwnPostgres:
    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://idp@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


def _discard(server: OwnPostgres, base: Path) -> None:
    """Stop a private cluster at once (whatever state the test left it in) and delete it."""
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(server.data)]
        + ["-m", "immediate", "-w", "stop"],
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(base, ignore_errors=True)


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    base = Path(tempfile.mkdtemp(prefix="idp-pg-"))
    postgres = pwd.getpwnam("postgres")
    os.chown(base, postgres.pw_uid, postgres.pw_gid)
    server = OwnPostgres(data=base / "data", port=free_port(), log=base / "server.log")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "initdb", "-D", str(server.data), "-U", "idp"]
        + ["--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        _discard(server, base)


@contextmanager
def own_replica(primary: OwnPostgres) -> Iterator[OwnPostgres]:
    """A streaming hot standby of ``primary``: ``pg_basebackup -R`` then started.

    initdb's defaults allow it (``wal_level=replica``, ``max_wal_senders=10``, trust
    for replication from loopback), so the standby follows the primary's writes.
    """
    base = Path(tempfile.mkdtemp(prefix="idp-pg-replica-"))
    postgres = pwd.getpwnam("postgres")
    os.chown(base, postgres.pw_uid, postgres.pw_gid)
    server = OwnPostgres(data=base / "data", port=free_port(), log=base / "server.log")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1"]
        + ["-p", str(primary.port), "-U", "idp", "-D", str(server.data), "-R", "-X", "stream"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        _discard(server, base)


class CuttingRelay:
    """A TCP relay in front of PostgreSQL or Redis that loses an exchange, as a network does.

    Armed with a marker (bytes of one statement's parameters) it cuts the connection
    that sends them: before they reach the server (``"request"``: nothing ran), or
    once the server has answered (``"reply"``: the statement committed, the client
    never hears it).
    """

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        self._lose = "reply"
        self._times = 0
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker: bytes, lose: str, *, times: int = 1) -> None:
        """Cut the next ``times`` exchanges that carry ``marker``."""
        with self._lock:
            self._marker, self._lose, self._times = marker, lose, times

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            doomed = threading.Event()  # this connection's next reply is lost
            for args in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(*args, doomed), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, up: bool, doomed: threading.Event
    ) -> None:
        try:
            while data := src.recv(65536):
                if up:
                    with self._lock:
                        hit = self._marker is not None and self._marker in data
                        if hit:
                            self._times -= 1
                            if self._times == 0:
                                self._marker = None
                    if hit and self._lose == "request":
                        self._cut(src, dst)
                        return
                    if hit:
                        doomed.set()
                elif doomed.is_set():
                    self._cut(src, dst)
                    return
                dst.sendall(data)
        except OSError:
            pass
        for end in (src, dst):
            end.close()

    def _cut(self, src: socket.socket, dst: socket.socket) -> None:
        self.cuts += 1
        for end in (src, dst):
            end.shutdown(socket.SHUT_RDWR)
            end.close()
