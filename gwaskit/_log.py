"""The package logger. Library code logs; only the CLI decides where the log goes."""
from __future__ import annotations

import logging

logger = logging.getLogger("gwaskit")
logger.addHandler(logging.NullHandler())
