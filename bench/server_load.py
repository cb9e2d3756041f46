"""Load from wrk and cost read from /proc: what the throughput benchmarks share.

Why wrk: a Python client on this 2-core machine spends more CPU per request than
a cached endpoint does, so it would measure itself. wrk (Debian's ``wrk``) keeps
every connection busy from C and lets a small Lua script vary each request (a
refresh chain presents the token the previous answer returned).

Why server CPU: throughput on a shared machine moves with whatever else runs, but
the CPU the server's own processes burn per request does not (much). We read
``utime + stime`` of the gunicorn arbiter and its workers from ``/proc`` before and
after each run; requests per server CPU-second is the figure that compares.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# One wrk thread per connection, so every connection has its own Lua state: a
# refresh chain is per connection. ``init`` picks this thread's line of the
# WRK_LINES file (a token, for example); ``done`` prints one JSON line.
_LUA = r"""
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args)
  errors = 0
  local lines = {}
  local path = os.getenv("WRK_LINES")
  if path and path ~= "" then
    for line in io.lines(path) do table.insert(lines, line) end
  end
  value = lines[((id - 1) % math.max(#lines, 1)) + 1] or ""
end
function request()
  local body = BODY and BODY:gsub("{value}", value) or nil
  local headers = {}
  for k, v in pairs(HEADERS) do headers[k] = v:gsub("{value}", value) end
  return wrk.format(METHOD, PATH, headers, body)
end
function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  elseif NEXT_VALUE then
    local found = body:match(NEXT_VALUE)
    if found then value = found end
  end
end
function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errs, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Request:
    """One endpoint's request; ``{value}`` in headers or body is the thread's line."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: str | None = None
    # A Lua pattern whose capture replaces {value} after each 200 (a refresh chain).
    next_value: str | None = None


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.requests / self.cpu_seconds if self.cpu_seconds else float("nan")


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def _script(req: Request) -> str:
    headers = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in req.headers.items())
    lines = [
        f"METHOD = {_lua_string(req.method)}",
        f"PATH = {_lua_string(req.path)}",
        f"HEADERS = {{{headers}}}",
        f"BODY = {_lua_string(req.body) if req.body is not None else 'nil'}",
        f"NEXT_VALUE = {_lua_string(req.next_value) if req.next_value else 'nil'}",
    ]
    return "\n".join(lines) + "\n" + _LUA


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return path


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn: the arbiter and its workers)."""
    found = [pid]
    for current in found:
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.extend(int(child) for child in children)
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """user + system CPU of these processes so far (threads included), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except OSError:
            continue
    return total


class PeakRss:
    """Samples the summed RSS of a process tree every ``interval`` seconds."""

    def __init__(self, root_pid: int, interval: float = 0.02) -> None:
        self._root = root_pid
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(process_tree(self._root)))
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_wrk(
    base_url: str,
    req: Request,
    *,
    server_pid: int,
    connections: int,
    seconds: float,
    lines: Sequence[str] = (),
    timeout: float = 10.0,
) -> Run:
    """Drive ``req`` with ``connections`` keep-alive connections for ``seconds``."""
    wrk = require_wrk()
    with tempfile.TemporaryDirectory(prefix="idp-wrk-") as tmp:
        script = Path(tmp) / "script.lua"
        script.write_text(_script(req))
        lines_file = Path(tmp) / "lines.txt"
        lines_file.write_text("\n".join(lines) + "\n" if lines else "")
        pids = process_tree(server_pid)
        before = cpu_seconds(pids)
        started = time.monotonic()
        completed = subprocess.run(
            [
                wrk,
                f"-t{connections}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={timeout:g}s",
                "-s",
                str(script),
                base_url,
            ],
            env={**os.environ, "WRK_LINES": str(lines_file)},
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        elapsed = time.monotonic() - started
        used = cpu_seconds(pids) - before
    doc = None
    for line in completed.stdout.splitlines():
        if line.startswith("WRKJSON "):
            doc = json.loads(line[len("WRKJSON ") :])
    if doc is None:
        raise RuntimeError(f"wrk printed no summary: {completed.stdout}\n{completed.stderr}")
    return Run(
        requests=doc["requests"],
        seconds=doc["duration_us"] / 1e6 or elapsed,
        p50_ms=doc["p50_us"] / 1000,
        p99_ms=doc["p99_us"] / 1000,
        errors=doc["errors"] + doc["socket_errors"],
        cpu_seconds=used,
    )
