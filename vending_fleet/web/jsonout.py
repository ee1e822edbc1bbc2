"""The JSON variants of the pages: dataclasses with ``Decimal`` amounts as exact decimal text
and times as ISO 8601."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from starlette.responses import JSONResponse

from ..model import User


def plain(value: Any) -> Any:
    """``value`` made of JSON types only."""
    if isinstance(value, User):          # never the password hash
        return {"id": value.id, "name": value.name, "role": value.role.value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def json_response(value: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(plain(value), status_code=status_code)
