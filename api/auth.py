"""Who is asking, and may they: bearer keys, scopes, and the rate limit per key
(api/rate_limit.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.keys import ApiKey, KeyStore

bearer = HTTPBearer(auto_error=False, description="An API key: `dataplat keys create`.")


class Principal:
    """An authenticated key and what its scopes allow."""

    def __init__(self, key: ApiKey):
        self.key = key

    def _deny(self, what: str, scope: str) -> HTTPException:
        return HTTPException(
            403, f"key {self.key.key_id} ({self.key.name}) may not read {what}: needs {scope}"
        )

    def require_platform(self) -> None:
        if "platform:read" not in self.key.scopes:
            raise self._deny("figures of all malls", "platform:read")

    def require_mall(self, mall_id: int | None) -> None:
        """A mall's statistics (platform-wide ones when mall_id is None)."""
        if mall_id is None:
            self.require_platform()
        elif not {"platform:read", f"mall:{mall_id}:read"} & self.key.scopes:
            raise self._deny(f"mall {mall_id}", f"mall:{mall_id}:read or platform:read")

    def require_crm(self, mall_id: int) -> None:
        """Customer segments are personal-data adjacent: only an explicit crm scope opens them."""
        if f"crm:{mall_id}:read" not in self.key.scopes:
            raise self._deny(f"customer segments of mall {mall_id}", f"crm:{mall_id}:read")


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    store: KeyStore = request.app.state.key_store
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(401, "an API key is required: send `Authorization: Bearer <key>`",
                            headers=unauthorized)  # fmt: skip
    key = await store.verify_shared(credentials.credentials)
    if key is None:
        raise HTTPException(401, "the API key is unknown or revoked", headers=unauthorized)
    wait = request.app.state.rate_limiter.retry_after(key.key_id)
    if wait:
        raise HTTPException(
            429,
            f"rate limit of {int(request.app.state.rate_limiter.capacity)} requests a minute "
            f"reached for key {key.key_id}; retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )
    request.state.principal = Principal(key)
    return request.state.principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]
