"""Geo math for travel detections, on Okta's own enrichment (no GeoIP database).

Okta ships ``client.geographicalContext.geolocation`` (lat/lon), the country as a
full English name, and ``securityContext.asNumber`` on every WEB event
(docs/okta-quirks.md#geo-and-network), so distance and "same network" checks need only stdlib.
"""

from __future__ import annotations

import functools
import ipaddress
import math

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two (lat, lon) points in degrees. Total over the finite, in-range
    coordinates the event model lets through (``a`` is clamped to [0, 1] against rounding)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def speed_kmh(distance_km: float, seconds: float, floor_s: float = 60.0) -> float:
    """Implied speed; Δt is floored (default 1 min) so simultaneous sign-ins do not divide by zero."""
    return distance_km / (max(abs(seconds), floor_s) / 3600.0)


def same_prefix(ip_a: str | None, ip_b: str | None, v4_bits: int = 24, v6_bits: int = 48) -> bool:
    """Same /24 (IPv4) or /48 (IPv6); False when either is missing or unparseable."""
    if not ip_a or not ip_b:
        return False
    if v4_bits == 24 and v6_bits == 48:  # the usual prefixes: two memoised look-ups, not two parses per call
        net_a = network_of(ip_a)
        return net_a is not None and net_a == network_of(ip_b)
    try:
        a, b = ipaddress.ip_address(ip_a), ipaddress.ip_address(ip_b)
    except ValueError:
        return False
    if a.version != b.version:
        return False
    bits = v4_bits if a.version == 4 else v6_bits
    return ipaddress.ip_network(f"{a}/{bits}", strict=False) == ipaddress.ip_network(f"{b}/{bits}", strict=False)


def ip_in(ip: str | None, networks: tuple[str, ...]) -> bool:
    """True when ``ip`` falls inside one of the CIDRs (an allowlist); junk never matches."""
    if not ip or not networks:
        return False
    return _ip_in(ip, tuple(networks))


@functools.lru_cache(maxsize=8192)
def _ip_in(ip: str, networks: tuple[str, ...]) -> bool:
    """Checked on every sign-in against a per-tenant constant, mostly for the same few addresses: memoised
    (bounded, so an attacker's stream of distinct addresses only costs the parse it would anyway)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _parsed(networks))


@functools.lru_cache(maxsize=64)
def _parsed(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """An allowlist is a per-tenant constant checked on every sign-in: parse it once."""
    parsed = []
    for net in networks:
        try:
            parsed.append(ipaddress.ip_network(net, strict=False))
        except ValueError:
            continue
    return tuple(parsed)


# Land borders (plus a few short-ferry/Schengen-commute pairs) for the countries most often seen, in Okta's spelling.
# Used only to *dampen* travel (Defender for Cloud Apps ignores same/bordering countries); a missing pair just
# means no dampening, never a missed detection.
_BORDERS: dict[str, tuple[str, ...]] = {
    "United States": ("Canada", "Mexico"),
    "Canada": ("United States",),
    "Mexico": ("United States", "Guatemala", "Belize"),
    "United Kingdom": ("Ireland", "France"),
    "Ireland": ("United Kingdom",),
    "France": (
        "Belgium",
        "Luxembourg",
        "Germany",
        "Switzerland",
        "Italy",
        "Spain",
        "Andorra",
        "Monaco",
        "United Kingdom",
    ),
    "Germany": (
        "Denmark",
        "Poland",
        "Czechia",
        "Czech Republic",
        "Austria",
        "Switzerland",
        "France",
        "Luxembourg",
        "Belgium",
        "Netherlands",
    ),
    "Netherlands": ("Germany", "Belgium"),
    "Belgium": ("France", "Luxembourg", "Germany", "Netherlands"),
    "Luxembourg": ("France", "Germany", "Belgium"),
    "Switzerland": ("France", "Germany", "Austria", "Liechtenstein", "Italy"),
    "Austria": (
        "Germany",
        "Czechia",
        "Czech Republic",
        "Slovakia",
        "Hungary",
        "Slovenia",
        "Italy",
        "Switzerland",
        "Liechtenstein",
    ),
    "Italy": ("France", "Switzerland", "Austria", "Slovenia", "San Marino"),
    "Spain": ("France", "Portugal", "Andorra", "Gibraltar"),
    "Portugal": ("Spain",),
    "Denmark": ("Germany", "Sweden"),
    "Sweden": ("Norway", "Finland", "Denmark"),
    "Norway": ("Sweden", "Finland", "Russia"),
    "Finland": ("Sweden", "Norway", "Russia", "Estonia"),
    "Poland": ("Germany", "Czechia", "Czech Republic", "Slovakia", "Ukraine", "Belarus", "Lithuania", "Russia"),
    "Czechia": ("Germany", "Poland", "Slovakia", "Austria"),
    "Czech Republic": ("Germany", "Poland", "Slovakia", "Austria"),
    "India": ("Pakistan", "China", "Nepal", "Bhutan", "Bangladesh", "Myanmar"),
    "China": (
        "India",
        "Russia",
        "Mongolia",
        "Kazakhstan",
        "Vietnam",
        "Laos",
        "Myanmar",
        "Nepal",
        "North Korea",
        "Hong Kong",
        "Macao",
    ),
    "Hong Kong": ("China",),
    "Singapore": ("Malaysia",),
    "Malaysia": ("Singapore", "Thailand", "Indonesia", "Brunei"),
    "Brazil": ("Argentina", "Uruguay", "Paraguay", "Bolivia", "Peru", "Colombia", "Venezuela"),
    "Argentina": ("Chile", "Bolivia", "Paraguay", "Brazil", "Uruguay"),
    "Australia": ("New Zealand",),
    "New Zealand": ("Australia",),
}


def bordering(country_a: str | None, country_b: str | None) -> bool:
    """True when two (Okta-spelled) countries share a border in the table above."""
    if not country_a or not country_b:
        return False
    return country_b in _BORDERS.get(country_a, ()) or country_a in _BORDERS.get(country_b, ())


@functools.lru_cache(maxsize=4096)
def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to, as a CIDR; None when missing or unparseable."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if addr.version == 4:  # the network's address from the parsed one: no second parse of "<addr>/<bits>"
        return f"{ipaddress.IPv4Address(int(addr) & 0xFFFFFF00)}/24"
    return f"{ipaddress.IPv6Address(int(addr) >> 80 << 80)}/48"
