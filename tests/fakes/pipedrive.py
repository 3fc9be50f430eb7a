"""A local Pipedrive API (v2 deals and activities).

Auth by ``x-api-token`` header, the legacy ``?api_token=`` query parameter or an OAuth bearer
token; ``{"success": true, "data": ...}`` / ``{"success": false, "error": ...}`` bodies; deal
``stage_id`` / ``status`` / ``lost_reason`` (refused unless the status is lost) and custom fields;
activities of known types on existing deals; a burst limit per rolling 2 s window (429 with
``x-ratelimit-*`` headers) and a daily budget, both on an injectable clock.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from ._server import FakeServer, Reply, Request, invalid_json

STAGES = {1, 2, 3, 4, 5}
USERS = {11, 12}
ACTIVITY_TYPES = {"call", "meeting", "task", "deadline", "email", "lunch"}
DEAL_FIELDS = {
    "title",
    "value",
    "currency",
    "stage_id",
    "status",
    "lost_reason",
    "owner_id",
    "probability",
    "expected_close_date",
    "pipeline_id",
    "custom_fields",
}
ACTIVITY_FIELDS = {
    "subject",
    "type",
    "deal_id",
    "owner_id",
    "due_date",
    "due_time",
    "duration",
    "done",
    "note",
    "priority",
    "public_description",
}
CUSTOM_FIELDS = {"5f1e8a42d4c0b9a5e0c7f3b2a1d4e6f8a9b0c1d2"}


def pd_error(status: int, message: str, info: str = "") -> Reply:
    """Pipedrive's failure body."""
    return Reply(
        status,
        {
            "success": False,
            "error": message,
            "error_info": info
            or "Please check developers.pipedrive.com for more information about Pipedrive API.",
            "data": None,
            "additional_data": None,
        },
    )


class FakePipedrive(FakeServer):
    """``with FakePipedrive(api_token="...") as pd: deal = pd.add_deal(stage_id=1)``."""

    def __init__(
        self,
        api_token: str = "0123456789abcdef0123456789abcdef01234567",
        oauth_token: str = "v1:oauth-access-token-fake",
        clock: Any = None,
    ) -> None:
        super().__init__(clock)
        self.api_token = api_token
        self.oauth_token = oauth_token
        self.deals: dict[int, dict[str, Any]] = {}
        self.activities: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(101)
        self._burst: int | None = None
        self._daily: int | None = None
        self._hits: list[Any] = []
        self._day_hits = 0

    def add_deal(self, **fields: Any) -> int:
        """A new open deal with ``fields``; returns its id."""
        with self.lock:
            ident = next(self._ids)
            self.deals[ident] = {"id": ident, "status": "open", "custom_fields": {}, **fields}
            return ident

    def rate_limit(self, burst: int | None = None, daily: int | None = None) -> None:
        """At most ``burst`` requests per rolling 2 s and ``daily`` in all, then 429."""
        with self.lock:
            self._burst, self._daily = burst, daily
            self._hits, self._day_hits = [], 0

    def route(self, request: Request) -> Reply:
        if not self._authorised(request):
            return pd_error(401, "unauthorized access")
        limited = self._throttle()
        if limited is not None:
            return limited
        reply = self._route(request)
        if self._burst is not None:
            reply.headers.update(
                {
                    "x-ratelimit-limit": str(self._burst),
                    "x-ratelimit-remaining": str(self._burst - len(self._hits)),
                    "x-ratelimit-reset": "2",
                }
            )
        return reply

    def _authorised(self, request: Request) -> bool:
        return (
            request.headers.get("x-api-token") == self.api_token
            or request.query.get("api_token") == self.api_token
            or request.headers.get("authorization") == f"Bearer {self.oauth_token}"
        )

    def _throttle(self) -> Reply | None:
        now = self.clock.now()
        if self._daily is not None and self._day_hits >= self._daily:
            reply = pd_error(429, "Daily request limit reached")
            reply.headers.update(
                {"x-daily-requests-left": "0", "x-daily-ratelimit-token-remaining": "0"}
            )
            return reply
        if self._burst is not None:
            self._hits = [t for t in self._hits if now - t < timedelta(seconds=2)]
            if len(self._hits) >= self._burst:
                reset = 2 - (now - self._hits[0]).total_seconds() if self._hits else 2
                reply = pd_error(429, "Request over limit")
                reply.headers.update(
                    {
                        "x-ratelimit-limit": str(self._burst),
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": str(max(1, round(reset))),
                    }
                )
                return reply
            self._hits.append(now)
        self._day_hits += 1
        return None

    def _route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if request.method in ("POST", "PATCH") and (
            invalid_json(request) or not isinstance(request.json, dict)
        ):
            return pd_error(400, "Invalid JSON body")
        if parts[:3] == ["api", "v2", "deals"] and len(parts) == 4 and request.method == "PATCH":
            if not parts[3].isdigit() or int(parts[3]) not in self.deals:
                return pd_error(404, "Deal not found")
            return self._update_deal(int(parts[3]), request.json)
        if parts == ["api", "v2", "activities"] and request.method == "POST":
            return self._add_activity(request.json)
        return pd_error(404, f"Unknown method {request.method} {request.path}")

    def _update_deal(self, ident: int, body: dict[str, Any]) -> Reply:
        unknown = sorted(set(body) - DEAL_FIELDS)
        if unknown:
            return pd_error(400, f"Unknown field(s): {', '.join(unknown)}")
        if "stage_id" in body and body["stage_id"] not in STAGES:
            return pd_error(400, f"Stage with id {body['stage_id']} does not exist")
        if "status" in body and body["status"] not in ("open", "won", "lost"):
            return pd_error(400, "status must be one of: open, won, lost")
        status = body.get("status", self.deals[ident]["status"])
        if "lost_reason" in body and status != "lost":
            return pd_error(400, "lost_reason can only be set when the deal status is lost")
        if "owner_id" in body and body["owner_id"] not in USERS:
            return pd_error(400, f"User with id {body['owner_id']} does not exist")
        custom = body.get("custom_fields", {})
        if set(custom) - CUSTOM_FIELDS:
            return pd_error(400, f"Unknown custom field(s): {sorted(set(custom) - CUSTOM_FIELDS)}")
        deal = self.deals[ident]
        deal.update({k: v for k, v in body.items() if k != "custom_fields"})
        deal["custom_fields"].update(custom)
        return Reply(200, {"success": True, "data": dict(deal)})

    def _add_activity(self, body: dict[str, Any]) -> Reply:
        unknown = sorted(set(body) - ACTIVITY_FIELDS)
        if unknown:
            return pd_error(400, f"Unknown field(s): {', '.join(unknown)}")
        if body.get("type") not in ACTIVITY_TYPES:
            return pd_error(400, f"Activity type {body.get('type')!r} does not exist")
        if "deal_id" in body and body["deal_id"] not in self.deals:
            return pd_error(400, f"Deal with id {body['deal_id']} does not exist")
        ident = next(self._ids)
        self.activities[ident] = {"id": ident, **body}
        return Reply(200, {"success": True, "data": self.activities[ident]})
