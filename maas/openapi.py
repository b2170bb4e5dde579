"""OpenAPI 3.1 document built from the URL map and the models of ``@endpoint`` views."""

from __future__ import annotations

import re
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask
from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from maas.core.http import ENDPOINTS, EndpointSpec
from maas.core.problems import PROBLEM_MIMETYPE

REF = "#/components/schemas/{model}"
_PATH_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "rider": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "device": {"type": "http", "scheme": "bearer", "description": "validator device token"},
    "partner": {"type": "http", "scheme": "bearer", "description": "partner API key"},
}


class ProblemFieldError(BaseModel):
    """One bad field in a problem document."""

    field: str = Field(description="dotted path of the bad field, e.g. `lat` or `payment.card`")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, the shape of every error response."""

    type: str = Field(examples=["/problems/invalid-input", "about:blank"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemFieldError] | None = None
    links: dict[str, str] | None = Field(
        default=None, description="where to go next, for problem types a client acts on, e.g. "
        "`move` (POST) for /problems/pass-bound-elsewhere")


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema(self, annotation: Any, mode: JsonSchemaMode) -> dict[str, Any]:
        """A schema for ``annotation``; named models go to components and are referenced."""
        generated = TypeAdapter(annotation).json_schema(ref_template=REF, mode=mode)
        self.schemas.update(generated.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            name = annotation.__name__
            self.schemas[name] = generated
            return {"$ref": REF.format(model=name)}
        return generated


def _package_version() -> str:
    try:
        return version("kanazawa-maas")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


def build_openapi(app: Flask) -> dict[str, Any]:
    """Walk ``app``'s routes and describe every ``@endpoint`` view."""
    components = _Components()
    problem_ref = components.schema(Problem, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        spec = ENDPOINTS.get(app.view_functions[rule.endpoint])
        if spec is None:
            continue
        path = _PATH_ARG.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(spec, rule.endpoint, sorted(rule.arguments), components)
            operation["responses"].update(_error_responses(spec, problem_ref))
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "金沢MaaS API (kanazawa-maas)",
            "version": _package_version(),
            "description": (
                "Trip planning, one-day passes, offline validation and partner statistics "
                "for Kanazawa. Times are ISO 8601 with offset (Asia/Tokyo); money is "
                "integer yen; every error is application/problem+json (RFC 9457)."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components.schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _operation(
    spec: EndpointSpec, endpoint: str, path_args: list[str], components: _Components
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_args
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": spec.summary,
        "tags": list(spec.tags),
        "responses": {
            str(spec.status): {
                "description": HTTPStatus(spec.status).phrase,
                "content": {
                    "application/json": {
                        "schema": components.schema(spec.response, "serialization")
                    }
                },
            }
        },
    }
    if spec.status == 204:  # No Content: nothing to describe
        del operation["responses"]["204"]["content"]
    if spec.description:
        operation["description"] = spec.description
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": components.schema(spec.body, "validation")}},
        }
    if spec.security:
        operation["security"] = [{name: []} for name in spec.security]
    return operation


def _error_responses(spec: EndpointSpec, problem_ref: dict[str, Any]) -> dict[str, Any]:
    statuses = set(spec.errors) | {500, 503}
    if spec.query is not None or spec.body is not None:
        statuses.add(422)
    if spec.security:
        statuses.update({401, 403})
    content = {PROBLEM_MIMETYPE: {"schema": problem_ref}}
    return {
        str(status): {"description": HTTPStatus(status).phrase, "content": content}
        for status in sorted(statuses)
    }
