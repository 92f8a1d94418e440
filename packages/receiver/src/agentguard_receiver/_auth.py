"""Standard Webhooks signatures and bearer tokens, checked in constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "MIN_SECRET_BYTES",
    "TIMESTAMP_TOLERANCE_S",
    "Authenticator",
    "Rejected",
    "SignedHeaders",
    "decode_secret",
]

TIMESTAMP_TOLERANCE_S = 300.0
"""How far a ``webhook-timestamp`` may lie from our clock, either way (Standard Webhooks)."""

MIN_SECRET_BYTES = 24
"""The shortest webhook secret accepted, in bytes (Standard Webhooks: 24 to 64 random bytes)."""

_SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
_ID = re.compile(r"[\x21-\x7e]{1,256}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURES = 16


class Rejected(Exception):  # noqa: N818 (reads as a fact: the request was rejected)
    """A request the receiver answers with a 4xx; the message is safe to send back."""

    def __init__(
        self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (the prefix is optional).

    Raises:
        ValueError: the secret is not base64 or holds fewer than :data:`MIN_SECRET_BYTES`
            bytes; the message never contains it.
    """
    if not isinstance(secret, str):
        raise TypeError("a webhook secret must be a str like 'whsec_<base64>'")
    raw = secret.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "a webhook secret must be 'whsec_' followed by base64 (the secret is not shown)"
        ) from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret must hold at least {MIN_SECRET_BYTES} random bytes, this one "
            f'holds {len(key)} (make one with: python -c "import base64, secrets; '
            f"print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\")"
        )
    return key


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The three Standard Webhooks headers, checked for shape."""

    msg_id: str
    timestamp: str
    signatures: tuple[bytes, ...]


def _signatures(header: str) -> tuple[bytes, ...]:
    found: list[bytes] = []
    for entry in header.split(" ")[:_MAX_SIGNATURES]:
        version, sep, value = entry.partition(",")
        if not sep or version != "v1":
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return tuple(found)


class Authenticator:
    """Decides whether a webhook request comes from someone who holds a secret or the token."""

    def __init__(
        self, secrets: Sequence[bytes], token: str | None, *, what: str = "signed requests"
    ) -> None:
        self._keys = tuple(secrets)
        self._token = token.encode() if token is not None else None
        self._what = what

    def check_headers(self, headers: Mapping[str, str], now_s: float) -> SignedHeaders | None:
        """Check what can be checked before the body is read.

        Returns:
            The signed headers to verify against the body, or ``None`` when a valid bearer
            token authenticated the request already.

        Raises:
            Rejected: 400 for malformed headers, 401 when unauthenticated or stale.
        """
        names = ("webhook-id", "webhook-timestamp", "webhook-signature")
        present = [name for name in names if name in headers]
        if present:
            if len(present) < len(names):
                missing = ", ".join(name for name in names if name not in headers)
                raise Rejected(400, "MALFORMED_HEADERS", f"missing header(s): {missing}")
            return self._signed(headers, now_s)
        authorization = headers.get("authorization")
        if authorization is None:
            raise Rejected(
                401,
                "UNAUTHENTICATED",
                "sign the request (Standard Webhooks)"
                + ("" if self._token is None else " or send 'Authorization: Bearer <token>'"),
            )
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            raise Rejected(
                400, "MALFORMED_HEADERS", "the Authorization header must be 'Bearer <token>'"
            )
        if self._token is None:
            raise Rejected(
                401, "UNAUTHENTICATED", "no bearer token is accepted here: sign the request"
            )
        if not hmac.compare_digest(credentials.strip().encode("latin-1"), self._token):
            raise Rejected(401, "UNAUTHENTICATED", "the bearer token is wrong")
        return None

    def _signed(self, headers: Mapping[str, str], now_s: float) -> SignedHeaders:
        msg_id = headers["webhook-id"]
        timestamp = headers["webhook-timestamp"]
        if not _ID.fullmatch(msg_id):
            raise Rejected(
                400, "MALFORMED_HEADERS", "webhook-id must be 1 to 256 visible ASCII characters"
            )
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Rejected(
                400,
                "MALFORMED_HEADERS",
                "webhook-timestamp must be integer seconds since the epoch",
            )
        signatures = _signatures(headers["webhook-signature"])
        if not signatures:
            raise Rejected(
                400, "MALFORMED_HEADERS", "webhook-signature holds no 'v1,<base64>' signature"
            )
        if abs(now_s - int(timestamp)) > TIMESTAMP_TOLERANCE_S:
            raise Rejected(
                401,
                "STALE_TIMESTAMP",
                f"webhook-timestamp is more than {TIMESTAMP_TOLERANCE_S:g} s from our clock",
            )
        if not self._keys:
            raise Rejected(401, "UNAUTHENTICATED", f"this receiver accepts no {self._what}")
        return SignedHeaders(msg_id, timestamp, signatures)

    def verify_body(self, signed: SignedHeaders, body: bytes) -> None:
        """Check that one of the signatures is the body's, under any of the secrets.

        Raises:
            Rejected: 401 when no signature matches.
        """
        content = f"{signed.msg_id}.{signed.timestamp}.".encode() + body
        matched = False
        for key in self._keys:
            expected = hmac.new(key, content, hashlib.sha256).digest()
            for signature in signed.signatures:
                matched |= hmac.compare_digest(expected, signature)
        if not matched:
            raise Rejected(401, "BAD_SIGNATURE", "no signature matches the body")
