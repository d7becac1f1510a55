from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    detail: str = Field(description="What is wrong and how to fix it.")


ERROR_RESPONSES = {
    400: {"model": ErrorResponse, "description": "A parameter is out of range."},
    404: {"model": ErrorResponse, "description": "Unknown mall, or a date outside the data."},
    422: {"model": ErrorResponse, "description": "A parameter is malformed."},
    503: {
        "model": ErrorResponse,
        "description": "The query engine or the marts are not available.",
    },
}
