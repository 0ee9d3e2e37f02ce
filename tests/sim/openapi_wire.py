"""Okta's published OpenAPI description (management.yaml), loaded for validating the simulator's real responses.

Nullability is relaxed as tests/data/okta-openapi/README.md explains (real Okta events carry nulls the
spec calls non-nullable): every schema under components.schemas is made nullable and None is added
to each enum. Two errors of the spec are corrected, each where real Okta contradicts it (see the README):
the `TimeDuration` pattern and the `name` of an OIDC app. Everything else is strict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import yaml
from multidict import CIMultiDict
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.conftest import DATA

ORG_HOST = "https://acme.okta.com"  # matches the spec's `https://{yourOktaDomain}` server


def _relax(spec: dict[str, Any]) -> dict[str, Any]:
    """Make every schema in components.schemas (and the schemas nested in them) nullable, and
    add None to every enum there. Nothing else is loosened."""

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        is_schema = isinstance(node.get("type"), str) or any(
            k in node for k in ("allOf", "oneOf", "anyOf", "enum", "properties")
        )
        if is_schema:
            node["nullable"] = True
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    walk(prop)
            elif key not in ("enum", "example", "examples", "default"):
                walk(value)

    for schema in spec["components"]["schemas"].values():
        walk(schema)
    return spec


def _correct(spec: dict[str, Any]) -> dict[str, Any]:
    """Fix two errors of the spec. `TimeDuration`'s pattern `^P(?:$)...` matches only "P" (a typo of the
    negative look-ahead `(?!$)`), so Okta's own `tokenWindow: "P30D"` fails it. `OpenIdConnectApplication`
    fixes `name` to `oidc_client`, the name of custom OIDC apps; Okta's own and catalog OIDC apps keep
    theirs (`saasure` for the Admin Console, `okta_enduser`, okta-sdk-dotnet issue 811 lists others)."""
    schemas = spec["components"]["schemas"]
    duration = schemas["TimeDuration"]
    duration["pattern"] = duration["pattern"].replace("^P(?:$)", "^P(?!$)")
    for part in schemas["OpenIdConnectApplication"]["allOf"]:
        name = part.get("properties", {}).get("name")
        if name is not None:
            name.pop("enum", None)
    return spec


def load_openapi() -> OpenAPI:
    path = DATA / "okta-openapi" / "management.yaml"
    with path.open("rb") as fh:
        spec = yaml.load(fh, Loader=yaml.CSafeLoader)
    return OpenAPI.from_dict(_relax(_correct(spec)), config=Config(spec_validator_cls=None))


@dataclass
class WireRequest:
    """The request as it went over the wire, in openapi-core's Request protocol."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    host_url: str = ORG_HOST
    content_type: str = "application/json"
    body: bytes | None = None

    @property
    def parameters(self) -> RequestParameters:
        return RequestParameters(query=ImmutableMultiDict(self.query), header=Headers(), cookie=ImmutableMultiDict())


@dataclass
class WireResponse:
    """A real response read from the simulator, in openapi-core's Response protocol."""

    status_code: int
    data: bytes
    content_type: str
    headers: CIMultiDict[str]


async def exchange(
    http: aiohttp.ClientSession, base: str, method: str, path: str, query: dict[str, str] | None = None
) -> tuple[WireRequest, WireResponse]:
    async with http.request(method, base + path, params=query) as resp:
        data = await resp.read()
        wire = WireResponse(resp.status, data, resp.content_type, CIMultiDict(resp.headers))
    return WireRequest(method.lower(), path, query or {}), wire
