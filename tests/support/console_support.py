"""Building blocks for the console tests: a signed-in browser-like client per role, and the
hidden fields of the forms a page rendered."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from fastapi.testclient import TestClient

from support.api_world import ADMIN_TOKEN, World, at

_HIDDEN = re.compile(r'<input type="hidden" name="(csrf|form_key|signin_token)" value="([^"]*)">')


def hidden_fields(html: str, form_id: str | None = None) -> dict[str, str]:
    """The CSRF token and idempotency key of a page's form (the first one, or `form_id`'s)."""
    if form_id is not None:
        start = html.index(f'id="{form_id}"')
        html = html[start : html.index("</form>", start)]
    found: dict[str, str] = {}
    for name, value in _HIDDEN.findall(html):
        found.setdefault(name, value)
    return found


def sign_in(api: TestClient, token: str, *, base_url: str = "http://testserver") -> TestClient:
    """A fresh client (its own cookie jar) on the same app, signed in with `token`."""
    browser = TestClient(api.app, base_url=base_url, raise_server_exceptions=False)
    page = browser.get("/signin")
    answer = browser.post(
        "/signin",
        data={"token": token, "next": "/", **hidden_fields(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return browser


def post_form(
    browser: TestClient, page_path: str, action: str, fields: dict[str, str], form_id: str
) -> httpx.Response:
    """Fill the form `form_id` that `page_path` renders and submit it to `action`."""
    page = browser.get(page_path)
    assert page.status_code == 200, page.text
    return browser.post(
        action, data={**hidden_fields(page.text, form_id), **fields}, follow_redirects=False
    )


@dataclass
class ConsoleWorld:
    """World's organisation with: client `gold` (O1, gold, designated manager M1, never
    contacted: overdue), client `other` (O3, M3's unit), client `lost` (O1, platinum, an
    abnormal churn: an in-scope case), and a token per role."""

    world: World
    clients: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    case_id: str = ""
    case_year: int = 0

    def build(self) -> ConsoleWorld:
        w = self.world
        self.clients["gold"] = w.client("O1", "gold")
        self.clients["other"] = w.client("O3", "gold")
        self.clients["lost"] = w.client("O1", "platinum")
        for name in ("gold", "lost"):
            w.post(
                f"/v1/clients/{self.clients[name]}/assignments",
                {"staff_id": w["M1"], "reason": "name list", "effective_at": at(1)},
            )
        churn = w.post(
            f"/v1/clients/{self.clients['lost']}/churn",
            {"kind": "abnormal", "reason": "moved to a competitor", "effective_at": at(300)},
        )
        self.case_id = churn["event_id"]
        self.case_year = datetime.fromisoformat(at(300)).year
        self.tokens["admin"] = ADMIN_TOKEN
        for role, staff in (("manager", "M1"), ("auditor", None), ("compliance", None)):
            _, headers = w.key(role, staff)
            self.tokens[role] = headers["Authorization"].removeprefix("Bearer ")
        _, headers = w.key("manager", "M3")
        self.tokens["manager_o3"] = headers["Authorization"].removeprefix("Bearer ")
        # The pages read the read models as they are (a person's page does not wait for a
        # position): the scene is there once they have taken in every write above.
        w.caught_up()
        return self

    def __getitem__(self, name: str) -> str:
        return self.world[name]
