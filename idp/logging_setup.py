"""Structured logs: one JSON object per line, each carrying the request's id.

An operator following one patient's failed sign-in through a load balancer, two
providers and their access logs needs one key to join the lines on: the request id
(``X-Request-ID``, given to every response and shown on the 500 page). It lives in
a context variable set by :class:`idp.web.request_id.RequestIdMiddleware` for the
duration of a request, so every line logged while the request runs carries it,
whichever module logs it.

What is logged stays what it was: messages, never request bodies or headers. The
access log line keeps the redaction of :mod:`idp.access_log` (the formatter reads
only gunicorn's already-redacted atoms), and the database engine hides SQL
parameters from error messages.

``idp serve`` (and the live test servers) use :class:`JsonGunicornLogger`, which
sets this formatter on gunicorn's error and access logs and on the root logger.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from idp.access_log import AccessAtoms, RedactingGunicornLogger, current_pid

# The current request's id; None outside a request (start-up, the outbox worker).
request_id_var: ContextVar[str | None] = ContextVar("idp_request_id", default=None)

# gunicorn's access-log atoms (already redacted) copied into the JSON line.
_ACCESS_FIELDS = {"m": "method", "U": "path", "s": "status", "p": "pid"}


def current_request_id() -> str | None:
    return request_id_var.get()


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args if isinstance(record.args, dict) else None
        # As logging.Formatter.format does: handlers and tests that share this record
        # (pytest's caplog, a second handler) read ``record.message`` after formatting.
        record.message = record.getMessage()
        doc = _head(record.created, record.levelname, record.name, record.message)
        if atoms is not None and "{x-request-id}o" in atoms:
            _add_access_fields(doc, atoms)
        else:
            doc["pid"] = record.process
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)

    @staticmethod
    def line(created: float, level: str, logger: str, message: str, atoms: Any) -> str:
        """What :meth:`format` writes for a record whose arguments are the mapping
        ``atoms`` and that carries no exception, without building the LogRecord
        (JsonGunicornLogger.access)."""
        doc = _head(created, level, logger, message)
        if "{x-request-id}o" in atoms:
            _add_access_fields(doc, atoms)
        else:
            doc["pid"] = current_pid()
        return json.dumps(doc, ensure_ascii=False, default=str)


def _head(created: float, level: str, logger: str, message: str) -> dict[str, Any]:
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level.lower(),
        "logger": logger,
        "message": message,
        "request_id": request_id_var.get(),
    }


def _add_access_fields(doc: dict[str, Any], atoms: Any) -> None:
    """A gunicorn access line, written after the request (and its context) ended: the
    id comes from the response header the middleware set."""
    rid = atoms.get("{x-request-id}o")
    doc["request_id"] = rid if rid and rid != "-" else None
    for atom, name in _ACCESS_FIELDS.items():
        if atom in atoms:
            doc[name] = atoms[atom]
    if isinstance(doc.get("pid"), str) and doc["pid"].strip("<>").isdigit():
        doc["pid"] = int(doc["pid"].strip("<>"))  # gunicorn writes "<1234>"
    if "D" in atoms:
        doc["duration_ms"] = round(int(atoms["D"]) / 1000, 1)


class BackgroundWriter(logging.Handler):
    """Formats a record in the calling thread and writes it from one thread per process.

    A logging handler holds its lock while it writes, so every request thread of a
    gthread worker queued behind the one writing its access line (issue 12: 20-24 %
    of discovery's time in gunicorn's access-log handler). Here the request thread
    only formats and enqueues; a writer thread, started in each process on first
    use (threads do not survive gunicorn's fork), writes the queued lines in order
    every ``FLUSH_SECONDS``, and an
    ``atexit`` hook drains the queue when the worker exits.
    """

    def __init__(self, target: logging.StreamHandler) -> None:  # type: ignore[type-arg]
        super().__init__(target.level)
        self.target = target
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._pid: int | None = None
        self._writer: threading.Thread | None = None
        self.write_lock = threading.Lock()

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: the queue is thread-safe and formatting needs none.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.target.format(record)
        except Exception:
            self.handleError(record)
            return
        self.put_line(line)

    def put_line(self, line: str) -> None:
        """Queue a formatted line for the writer thread (started here if need be)."""
        if self._pid != current_pid():
            self._start()
        self._queue.put(line)

    def _start(self) -> None:
        with _START_LOCK:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._writer = threading.Thread(target=self._write, name="access-log", daemon=True)
            self._writer.start()
            self._pid = os.getpid()
            atexit.register(self.drain)

    def _write(self) -> None:
        # Polls instead of blocking on the queue: a blocked reader would be woken by
        # every put, a thread switch per request (py-spy put 17-32 % of a small
        # request there). Lines reach the file at most FLUSH_SECONDS late.
        while True:
            time.sleep(FLUSH_SECONDS)
            lines: list[str] = []
            stop = False
            while True:
                try:
                    line = self._queue.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    stop = True
                    break
                lines.append(line)
            if lines:
                # Held only by this thread and by reopen (log rotation): never contended.
                with self.write_lock:
                    stream = self.target.stream
                    stream.write("\n".join(lines) + "\n")
                    stream.flush()
            if stop:
                return

    def reopen(self) -> None:
        """gunicorn's USR1 (log rotation) for a file target."""
        target = self.target
        if isinstance(target, logging.FileHandler):
            with self.write_lock:
                if target.stream:
                    target.close()
                    target.stream = target._open()

    def drain(self) -> None:
        """Write what is queued and stop the writer (at exit, and in tests)."""
        writer = self._writer
        if writer is not None and writer.is_alive() and self._pid == os.getpid():
            self._queue.put(None)
            writer.join(timeout=5)
            self.target.flush()


_START_LOCK = threading.Lock()
# How often the access-log writer thread writes what request threads queued.
FLUSH_SECONDS = 0.05


class JsonGunicornLogger(RedactingGunicornLogger):
    """gunicorn's logger, redacting as before, writing JSON lines.

    The provider's own loggers (``idp.*``) go to gunicorn's error log stream,
    at INFO; other libraries' at WARNING. Access lines are written by a
    :class:`BackgroundWriter`, so request threads never wait on each other's writes.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(formatter)
        self.access_log.handlers = [
            BackgroundWriter(h) if isinstance(h, logging.StreamHandler) else h
            for h in self.access_log.handlers
        ]
        self._direct_writers = _direct_writers(self.access_log)
        root = logging.getLogger()
        handlers = list(self.error_log.handlers) or [logging.StreamHandler(sys.stderr)]
        for handler in handlers:
            handler.setFormatter(formatter)
        root.handlers = handlers
        root.setLevel(logging.WARNING)
        logging.getLogger("idp").setLevel(logging.INFO)

    _direct_writers: list[BackgroundWriter] | None = None

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """The access line straight to the writers' queues when nothing but them would
        see the record: the same JSON line :class:`JsonFormatter` makes of the record
        ``logging`` would build, without building it (the record, its caller lookup and
        the handler calls were a third of an access line's cost, issue 12). Any other
        configuration (a filter, another handler, a level above INFO) goes through
        ``logging`` as before."""
        if not self.access_log_enabled:
            return
        direct = self._direct_writers
        log = self.access_log
        if (
            direct is None
            or log.handlers != direct
            or log.filters
            or not log.isEnabledFor(logging.INFO)
        ):
            super().access(resp, req, environ, request_time)
            return
        try:
            atoms = AccessAtoms(self, resp, req, environ, request_time)
            message = self.cfg.access_log_format % atoms
            line = JsonFormatter.line(time.time(), "INFO", log.name, message, atoms)
            for writer in direct:
                writer.put_line(line)
        except Exception:
            self.error(traceback.format_exc())

    def reopen_files(self) -> None:
        super().reopen_files()
        for handler in self.access_log.handlers:
            if isinstance(handler, BackgroundWriter):
                handler.reopen()


def _direct_writers(log: logging.Logger) -> list[BackgroundWriter] | None:
    """The access log's writers, if a record would reach them alone, unfiltered, and
    be formatted by :class:`JsonFormatter`; else None."""
    writers = [h for h in log.handlers if isinstance(h, BackgroundWriter)]
    if not writers or len(writers) != len(log.handlers) or log.propagate:
        return None
    for writer in writers:
        if writer.filters or writer.level > logging.INFO:
            return None
        if type(writer.target.formatter) is not JsonFormatter:
            return None
    return writers
