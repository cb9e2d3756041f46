"""Audit rows as staff read them: the device from its User-Agent, a coarse place from
the address. No GeoIP database ships with the provider, so "coarse location" is the
address's network (a /24 for IPv4, a /48 for IPv6), marked when it is private or
reserved: enough to see that two events came from one place, and never
more precise than the address itself."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address, ip_network

from idp.web.account import describe_device

__all__ = ["coarse_location", "describe_device"]


def coarse_location(ip: str | None) -> str:
    if not ip:
        return "unknown"
    try:
        address = ip_address(ip)
    except ValueError:
        return "unknown"
    if address.is_loopback:
        return "this server (loopback)"
    prefix = 24 if isinstance(address, IPv4Address) else 48
    network = ip_network(f"{address}/{prefix}", strict=False)
    return f"network {network}" + (" (private or reserved)" if address.is_private else "")
