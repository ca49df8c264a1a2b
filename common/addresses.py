"""Is a client address in a list of networks the operator named (CIDRs or single addresses)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What "inside" means when the operator names nothing: loopback and private ranges.
PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)


@lru_cache(maxsize=16)
def _parsed(networks: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip())


def check_networks(networks: Iterable[str]) -> None:
    """Raise ValueError naming the entry that is neither an address nor a network."""
    for entry in networks:
        try:
            _parsed((entry,))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None


def address_in(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # no address at all (a test client, a Unix socket): not inside
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in _parsed(tuple(networks)))
