"""The client's address: the socket's peer, unless that peer is a trusted proxy.

``X-Forwarded-For`` is believed only from ``PICORA_TRUSTED_PROXIES``: anyone else could write any
address there and get a fresh sign-in allowance per request. Behind trusted proxies the client is
the rightmost address that is not itself a trusted proxy (each proxy appends the peer it saw, so
entries further left were written by the client and prove nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

from config.credentials import IpNetwork


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in proxies)


def client_address(request: web.Request, proxies: Sequence[IpNetwork]) -> str:
    peer = _address(request.remote or "")
    if peer is None:
        return request.remote or "unknown"
    if not proxies or not _trusted(peer, proxies):
        return str(peer)
    client = peer
    hops = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbled: keep the last address a trusted hop vouched for
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)
