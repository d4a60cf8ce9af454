"""HTTP to addresses that tenants choose (webhooks): the public internet only, pinned after one
DNS lookup.

A municipal admin types the URL. Unchecked, the service would POST on their behalf to its own
loopback, the private network or the cloud's metadata endpoint. So the host name is resolved
once, every address it has must be public, and the connection goes to a checked address with
the URL's host name in the Host header, the TLS SNI and the certificate check: a DNS answer that
changes between the check and the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
# Outside global unicast (2000::/3) no IPv6 address is public; this also refuses IPv4-mapped
# (::ffff:0:0/96), IPv4-compatible (::/96) and NAT64 (64:ff9b::/96) forms of private IPv4
# addresses, unique-local ones (fd00:ec2::254 is AWS's metadata), link-local, site-local and
# multicast.
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
# 6to4 and Teredo carry an IPv4 address inside that a relay would reach on our behalf.
_TUNNELS_V6 = (ipaddress.ip_network("2002::/16"), ipaddress.ip_network("2001::/32"))
# IANA's special-purpose IPv4 blocks that not every Python's is_global covers: protocol
# assignments (192.0.0.0/24) and the retired 6to4 relay anycast.
_SPECIAL_V4 = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("192.88.99.0/24"))
# Special-use names (RFC 6761, 6762, 8375, ICANN's .internal) and single-label names are
# resolved from local files, mDNS or search domains: internal by definition, whatever they
# resolve to at the moment (metadata.google.internal resolves only inside the cloud).
_INTERNAL_SUFFIXES = ("localhost", "local", "internal", "home.arpa", "localdomain")


class Unreachable(Exception):
    """No connection is made to this target."""


class ForbiddenTarget(Unreachable):
    """The URL's host is, or resolves to, an address outside the public internet."""


class Unresolved(Unreachable):
    """The URL's host name has no address now."""


@dataclass(frozen=True)
class Target:
    """The parts of an http(s) URL that the connection needs."""

    scheme: str
    host: str  # ASCII (IDNA), without brackets
    port: int
    authority: str  # the Host header: host[:port]
    path: str  # path and query

    @classmethod
    def parse(cls, url: str) -> Target:
        """Split a URL; ValueError when it has no host or a malformed one or port."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("not an http(s) URL with a host")
        try:
            host = parts.hostname.rstrip(".").encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError("malformed host name") from exc
        port = parts.port or DEFAULT_PORTS[parts.scheme]  # parts.port raises on a bad port
        authority = f"[{host}]" if ":" in host else host
        if parts.port:
            authority += f":{parts.port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, authority, path)


def is_public(address: Address) -> bool:
    """Whether an address is on the public internet (none of the networks refused above)."""
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return address in _GLOBAL_UNICAST_V6 and not any(address in net for net in _TUNNELS_V6)
    return not any(address in net for net in _SPECIAL_V4)


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host has now (an IP literal in any form the resolver reads: itself)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolved(host) from exc
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))


def _internal_name(host: str) -> bool:
    if "%" in host:  # an IPv6 zone (fe80::1%eth0): link-local by definition
        return True
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        name = host.lower()
    return "." not in name or any(
        name == suffix or name.endswith("." + suffix) for suffix in _INTERNAL_SUFFIXES
    )


def checked_addresses(target: Target, allow_loopback: bool = False) -> list[Address]:
    """The host's addresses, resolved once, all public (loopback if allowed), else Unreachable."""
    if _internal_name(target.host):
        raise ForbiddenTarget(target.host)
    addresses = resolve(target.host, target.port)
    if not addresses:
        raise Unresolved(target.host)
    for address in addresses:
        if not (is_public(address) or (allow_loopback and address.is_loopback)):
            raise ForbiddenTarget(target.host)
    return addresses


def post(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float, allow_loopback: bool = False
) -> urllib3.BaseHTTPResponse:
    """POST to the host's first checked address, no redirects; the response comes back closed."""
    target = Target.parse(url)
    address = str(checked_addresses(target, allow_loopback)[0])
    options = {"timeout": urllib3.Timeout(timeout_s), "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, **options)
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.authority},
            redirect=False,
            preload_content=False,
        )
        response.close()
        return response
