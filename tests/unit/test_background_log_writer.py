"""The access log's background writer: every line arrives whole, in order, and drains."""

from __future__ import annotations

import io
import json
import logging
import threading

from idp.logging_setup import BackgroundWriter, JsonFormatter


def test_lines_from_many_threads_arrive_whole_and_in_order() -> None:
    stream = io.StringIO()
    target = logging.StreamHandler(stream)
    target.setFormatter(JsonFormatter())
    writer = BackgroundWriter(target)
    log = logging.Logger("test.access")
    log.addHandler(writer)

    def send(thread: int) -> None:
        for n in range(200):
            log.info("thread %d line %d", thread, n)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.drain()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 200
    messages = [json.loads(line)["message"] for line in lines]
    for t in range(8):
        mine = [m for m in messages if m.startswith(f"thread {t} ")]
        assert mine == [f"thread {t} line {n}" for n in range(200)]


def test_a_record_the_filter_refuses_is_not_written() -> None:
    stream = io.StringIO()
    writer = BackgroundWriter(logging.StreamHandler(stream))
    writer.addFilter(lambda record: "secret" not in record.getMessage())
    log = logging.Logger("test.access")
    log.addHandler(writer)
    log.info("a secret line")
    log.info("a plain line")
    writer.drain()
    assert stream.getvalue() == "a plain line\n"


def test_formatting_sets_the_records_message_as_logging_formatter_does() -> None:
    """pytest's caplog and any second handler read ``record.message`` once a formatter
    ran; JsonFormatter left it unset, so a test reading it failed depending on order."""
    record = logging.LogRecord("idp", logging.WARNING, __file__, 1, "policy %s", ("x",), None)
    line = json.loads(JsonFormatter().format(record))
    assert record.message == "policy x" == line["message"]
