"""Structured logs on request (`--log-format json`): one JSON object per line."""

from __future__ import annotations

import json
import logging

from crawler.clock import isoformat


class JsonFormatter(logging.Formatter):
    """time (UTC ISO 8601), level, logger, message, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        import datetime as dt

        data = {
            "time": isoformat(dt.datetime.fromtimestamp(record.created, dt.UTC)),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def use_json_logs() -> None:
    """Every handler of the root logger writes JSON from now on."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
