"""The OpenAPI 3.1 description of the orchestrator's API, served at /api/openapi.json.

The settings schema is generated from the same model that validates changes, so its bounds
cannot drift; the paths are written here and a test holds them to the app's routes.
"""

from __future__ import annotations

from typing import Any

from streamsim.settings import WaveSettings

JSON = "application/json"


def json_body(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def change_operation(summary: str, patch: bool) -> dict[str, Any]:
    body = json_body("SettingsPatch" if patch else "Settings", "the settings to change")
    return {
        "summary": summary,
        "security": [{}, {"bearer": []}],
        "requestBody": {**body, "required": True},
        "responses": {
            "200": json_body("Settings", "the settings now in force"),
            "401": json_body("Problem", "listening beyond loopback and no valid token given"),
            "422": json_body("Problem", "refused; nothing changed"),
        },
    }


def paths() -> dict[str, Any]:
    return {
        "/": {
            "get": {"summary": "The control page", "responses": {"200": {"description": "HTML"}}}
        },
        "/api/config": {
            "get": {
                "summary": "The wave's settings in force",
                "responses": {"200": json_body("Settings", "the settings")},
            },
            "put": change_operation("Replace every setting", patch=False),
            "patch": change_operation("Change some settings", patch=True),
        },
        "/api/stats": {
            "get": {
                "summary": "Requested and achieved rates, counts, users, servers, events/s",
                "responses": {"200": {"description": "live figures", "content": {JSON: {}}}},
            }
        },
        "/api/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}
        },
        "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
    }


def problem_schema() -> dict[str, Any]:
    refusal = {
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "message": {"type": "string"},
            "allowed": {"type": "string", "description": "the allowed values or range"},
        },
    }
    return {
        "type": "object",
        "properties": {
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": refusal},
        },
        "required": ["detail"],
    }


def openapi_document() -> dict[str, Any]:
    settings = WaveSettings.model_json_schema()
    patch = {**settings, "title": "SettingsPatch", "required": []}
    settings["required"] = list(WaveSettings.model_fields)
    for schema in (settings, patch):
        schema["additionalProperties"] = False
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "streamsim orchestrator",
            "version": "1",
            "description": "Live control of the wave of new users. Bound to loopback, changes "
            "need nothing; bound elsewhere, they need `Authorization: Bearer <token>`.",
        },
        "paths": paths(),
        "components": {
            "schemas": {"Settings": settings, "SettingsPatch": patch, "Problem": problem_schema()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
