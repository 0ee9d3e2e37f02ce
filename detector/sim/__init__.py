"""Okta simulator: a real HTTP server that speaks the System Log, Users, Groups, Apps, OAuth and the security
settings APIs (API tokens, IdPs, policies, ThreatInsight) as Okta does.

`SimOrg` holds one org's state (plain Python, no I/O); `SimServer` serves it over loopback HTTP.
"""

from detector.sim.org import EnforcementCall, SimOrg
from detector.sim.ratelimit import RateLimits
from detector.sim.server import SimServer, make_app

__all__ = ["EnforcementCall", "RateLimits", "SimOrg", "SimServer", "make_app"]
