"""Checking real responses against ``origin/api/openapi.json``, for the answers a fuzzer cannot provoke.

schemathesis covers what random requests reach; quota, rate limits, outages and the README's curl
lines are driven by their own tests, and each of those answers goes through ``Contract.check``:
the status must be documented for the operation, the body must match its schema, and every
required header must be present and match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from origin.api.openapi import load_spec

_SPEC_URI = "urn:picora:openapi"
METHODS = ("get", "put", "post", "patch", "delete")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class Contract:
    """The published description, with the lookups and validation the tests need."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        self.spec = spec if spec is not None else load_spec()
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)

    def operations(self) -> set[tuple[str, str]]:
        """Every described (METHOD, path template)."""
        return {
            (method.upper(), path) for path, item in self.spec["paths"].items() for method in item if method in METHODS
        }

    def template(self, path: str) -> str:
        """The described path template a concrete request path falls under."""
        for template in self.spec["paths"]:
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path):
                return str(template)
        raise AssertionError(f"{path} is not described in the OpenAPI document")

    def _resolve(self, node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
        """Follow a local ``$ref`` (responses and headers are OpenAPI objects, not schemas)."""
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self.spec
            for token in pointer.strip("/").split("/"):
                node = node[token.replace("~1", "/").replace("~0", "~")]
        return node, pointer

    def validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"$ref": f"{_SPEC_URI}#{pointer}"}, registry=self.registry, format_checker=FormatChecker()
        )

    def check(self, method: str, path: str, status: int, body: Any, headers: Mapping[str, str]) -> None:
        """Assert one real answer is what the document promises for ``method path``."""
        template = self.template(path) if path not in self.spec["paths"] else path
        operation = self.spec["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not described"
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {template} answered {status}, documented: {sorted(responses)}"
        base = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}"
        response, pointer = self._resolve(responses[str(status)], base)
        content = response.get("content", {})
        if "application/json" in content:
            schema_pointer = f"{pointer}/content/application~1json/schema"
            errors = sorted(self.validator(schema_pointer).iter_errors(body), key=str)
            assert not errors, f"{method} {template} {status}: {[e.message for e in errors]}\nbody: {body}"
        lower = {name.lower(): value for name, value in headers.items()}
        for name, definition in response.get("headers", {}).items():
            header, header_pointer = self._resolve(definition, f"{pointer}/headers/{_escape(name)}")
            if name.lower() not in lower:
                assert not header.get("required"), f"{method} {template} {status}: no {name} header"
                continue
            errors = list(self.validator(f"{header_pointer}/schema").iter_errors(lower[name.lower()]))
            assert not errors, f"{method} {template} {status}: {name}: {[e.message for e in errors]}"
