from __future__ import annotations

from pydantic import BaseModel, Field

MAX_ID = 2**63 - 1  # ids and amounts are BIGINT in the marts


class ErrorResponse(BaseModel):
    detail: str = Field(description="What is wrong and how to fix it.")


ERROR_RESPONSES = {
    400: {"model": ErrorResponse, "description": "A parameter is out of range."},
    401: {"model": ErrorResponse, "description": "No API key, or an unknown or revoked one."},
    403: {"model": ErrorResponse, "description": "The key's scopes do not cover the request."},
    429: {"model": ErrorResponse, "description": "Rate limit reached; see Retry-After."},
    404: {"model": ErrorResponse, "description": "Unknown mall, or a date outside the data."},
    422: {"model": ErrorResponse, "description": "A parameter is malformed."},
    503: {
        "model": ErrorResponse,
        "description": "The query engine or the marts are not available.",
    },
}
