"""Responses with exact numbers: every Decimal is written as an exact JSON number, as
``attain … --format json`` writes it (FastAPI's own encoder would turn it into a string)."""

from __future__ import annotations

from typing import Any

from attain.core import output
from fastapi.responses import JSONResponse


class ExactJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return output.dumps(content, indent=None).encode("utf-8")


def exact(data: Any, status: int = 200) -> ExactJSONResponse:
    return ExactJSONResponse(data, status)
