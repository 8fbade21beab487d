"""The OpenAPI description of the user service, served at GET /openapi.json.

Written by hand beside the routes; a test checks that both name the same operations. The
request body's schema comes from the model that validates it, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from streamsim.users.service import MAX_OFFSET, MAX_PAGE, UserRequest

_ERROR = {
    "description": "The input is wrong; `error` names the field.",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}
_JSON = {"content": {"application/json": {"schema": {"type": "object"}}}}
_HEALTH = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"ok": {"const": True}, "active": {"type": "integer", "minimum": 0}},
                "required": ["ok", "active"],
            }
        }
    }
}
_USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _create(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}},
        },
        "responses": {
            "201": {"description": "Created; the body holds `user_id`.", **_JSON},
            "400": _ERROR,
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamsim user service", "version": "1"},
        "paths": {
            "/users": {
                "post": _create("Create one simulated user, who lives on its own from now."),
                "get": {
                    "summary": "Counts of users by state and action, and one page of users.",
                    "parameters": [
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE},
                        },
                    ],
                    "responses": {
                        "200": {"description": "Counts and users.", **_JSON},
                        "400": _ERROR,
                    },
                },
            },
            "/addOneUser": {"post": _create("The first design's name for POST /users.")},
            "/users/{user_id}": {
                "get": {
                    "summary": "One user's traits, state, current action and what it did.",
                    "parameters": [_USER_ID],
                    "responses": {"200": {"description": "The user.", **_JSON}, "404": _ERROR},
                },
                "delete": {
                    "summary": "The user closes the browser now.",
                    "parameters": [_USER_ID],
                    "responses": {"200": {"description": "Closed.", **_JSON}, "404": _ERROR},
                },
            },
            "/health": {
                "get": {
                    "summary": "Liveness and active users.",
                    "responses": {"200": {"description": "Alive.", **_HEALTH}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "responses": {"200": {"description": "OpenAPI 3.1.", **_JSON}},
                }
            },
        },
        "components": {"schemas": {"User": UserRequest.model_json_schema()}},
    }
