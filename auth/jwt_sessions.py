"""Dashboard sessions: JWTs issued by the dashboard, verified here with pyjwt.

The accepted algorithms come from configuration only (one family; never from the token), public
keys are chosen by ``kid`` among configured keys only, and ``exp``, ``iat`` and ``sub`` (plus
``iss``/``aud`` when configured) are required. Every failure is ``InvalidToken``: pyjwt raises
more than ``PyJWTError`` for some malformed keys and inputs, so those are caught too.
"""

from __future__ import annotations

from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from auth.keyspace import USER_PATTERN
from config.credentials import JwtSettings


class InvalidToken(Exception):
    """The token is forged, expired, for someone else, or not a token at all."""


class JwtVerifier:
    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self.algorithms = list(settings.algorithms)
        self.required = ["exp", "iat", "sub"]
        if settings.issuer:
            self.required.append("iss")
        if settings.audience:
            self.required.append("aud")
        algorithm = get_default_algorithms()[settings.algorithms[0]]
        self.keys: dict[str, Any] = {kid: algorithm.prepare_key(pem) for kid, pem in settings.public_keys.items()}

    def _key(self, token: str) -> Any:
        if self.settings.family == "hmac":
            return self.settings.secret
        kid = jwt.get_unverified_header(token).get("kid")
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        if not isinstance(kid, str) or kid not in self.keys:
            raise InvalidToken("unknown key id")
        return self.keys[kid]

    def verify(self, token: str) -> str:
        """The user id (``sub``) of a valid token."""
        if not self.settings.enabled:
            raise InvalidToken("session tokens are not accepted here")
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=self.algorithms,
                issuer=self.settings.issuer,
                audience=self.settings.audience,
                leeway=self.settings.leeway_seconds,
                options={"require": self.required},
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidToken(str(exc) or type(exc).__name__) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not USER_PATTERN.fullmatch(subject):
            raise InvalidToken("sub is not a valid user id")
        return subject
