"""JsonGunicornLogger.access writes the access line without a LogRecord (issue 12): the
line must be the one ``logging`` + JsonFormatter wrote (same fields, same redaction),
and any configuration the shortcut cannot honour (a filter, another handler, a higher
level) must still go through ``logging``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config

from idp.access_log import REDACTED, current_pid
from idp.logging_setup import BackgroundWriter, JsonGunicornLogger

from .test_access_atoms import FORMATS, TOKEN, _exchange


@pytest.fixture(autouse=True)
def _restore_access_logger() -> Iterator[None]:
    """gunicorn's access logger is process-wide: leave it as it was found."""
    log = logging.getLogger("gunicorn.access")
    filters, level = list(log.filters), log.level
    yield
    log.filters[:] = filters
    log.setLevel(level)


def _logger(path: Path, fmt: str) -> JsonGunicornLogger:
    cfg = Config()
    cfg.set("accesslog", str(path))
    cfg.set("access_log_format", fmt)
    logger = JsonGunicornLogger(cfg)
    logger.now = lambda: "[05/Dec/2026:16:00:00 +0000]"  # type: ignore[method-assign]
    return logger


def _lines(logger: JsonGunicornLogger, path: Path) -> list[dict[str, Any]]:
    for handler in logger.access_log.handlers:
        if isinstance(handler, BackgroundWriter):
            handler.drain()
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    for doc in docs:
        assert doc.pop("time").endswith("+00:00")
    return docs


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_direct_line_is_the_line_logging_writes(tmp_path: Path, fmt: str) -> None:
    direct_path, logged_path = tmp_path / "direct.log", tmp_path / "logged.log"
    # One at a time: gunicorn's loggers are process-wide, each setup takes them over.
    direct = _logger(direct_path, fmt)
    assert direct._direct_writers
    direct.access(*_exchange())
    (line,) = _lines(direct, direct_path)
    logged = _logger(logged_path, fmt)
    logged._direct_writers = None  # the way through logging.Logger.info
    logged.access(*_exchange())
    assert [line] == _lines(logged, logged_path)
    assert TOKEN not in json.dumps(line)
    assert line["request_id"] == "abc123def456"
    assert line["pid"] == os.getpid() == current_pid()
    assert line["path"] == f"/reset/{REDACTED}"
    assert line["duration_ms"] == 1002.3


class Refuse(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen += 1
        return False


def test_a_filter_on_the_access_log_is_still_asked(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    logger = _logger(path, FORMATS[1])
    refuse = Refuse()
    logger.access_log.addFilter(refuse)
    logger.access(*_exchange())
    assert refuse.seen == 1
    assert _lines(logger, path) == []


def test_another_handler_still_gets_the_record(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    logger = _logger(path, FORMATS[1])
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.access_log.addHandler(Keep())
    logger.access(*_exchange())
    assert len(records) == 1
    assert len(_lines(logger, path)) == 1


def test_a_level_above_info_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    logger = _logger(path, FORMATS[1])
    logger.access_log.setLevel(logging.WARNING)
    logger.access(*_exchange())
    assert _lines(logger, path) == []
