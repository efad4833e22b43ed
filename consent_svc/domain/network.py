"""Client addresses, kept only as much as abuse handling needs."""

from __future__ import annotations

import ipaddress


def truncate_ip(raw: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48: enough for abuse handling, not enough to single out a visitor."""
    if not raw:
        return None
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
