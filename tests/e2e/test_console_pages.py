"""The console over HTTP (TestClient): each route per role and scope, the session, CSRF,
languages, exports. The browser tests (test_console_browser.py) drive the same pages."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.domain import DomainEvent
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from ledger.console import i18n
from ledger.console.pages import compliance as compliance_pages
from ledger.domain import values as values_
from ledger.domain.api_key import ROLES
from ledger.domain.client import Client
from support.api_world import ADMIN, World, at, running_app
from support.console_support import ConsoleWorld, hidden_fields, post_form, sign_in

CSP = "default-src 'self'"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ConsoleWorld]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('console')}/ledger.db"
    with running_app(url) as (api, _):
        yield api, ConsoleWorld(World(api).build()).build()


@pytest.fixture(scope="module")
def api(app: tuple[TestClient, ConsoleWorld]) -> TestClient:
    return app[0]


@pytest.fixture(scope="module")
def cw(app: tuple[TestClient, ConsoleWorld]) -> ConsoleWorld:
    return app[1]


@pytest.fixture(scope="module")
def as_role(api: TestClient, cw: ConsoleWorld) -> dict[str, TestClient]:
    return {role: sign_in(api, token) for role, token in cw.tokens.items()}


def reads(cw: ConsoleWorld) -> list[str]:
    gold, lost = cw.clients["gold"], cw.clients["lost"]
    return [
        "/",
        f"/clients/{gold}",
        f"/clients/{gold}/timeline",
        f"/clients/{gold}?as_of=2000-01-01",
        "/find",
        f"/roster?unit_id={cw['O1']}",
        f"/cases?unit_id={cw['O1']}",
        f"/cases/{cw.case_id}",
        f"/tallies?unit_id={cw['O1']}",
        "/reports",
        f"/reports/tier-growth?unit_id={cw['O1']}",
        f"/reports/completeness?unit_id={cw['O1']}",
        f"/reports/overdue?unit_id={cw['O1']}",
        f"/reports/orphaned?unit_id={cw['O1']}",
        f"/reports/at-risk?unit_id={cw['O1']}",
        f"/reports/team-gaps?unit_id={cw['O1']}",
        f"/reports/portfolio?staff_id={cw['M1']}",
        f"/clients/{lost}",
    ]


# ---- frame: headers, sign-in, session ------------------------------------------------------


def test_every_page_answers_for_every_role_with_the_content_security_policy(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    for role in ("admin", "manager", "auditor", "compliance"):
        for path in reads(cw):
            answer = as_role[role].get(path)
            assert answer.status_code == 200, (role, path, answer.text[:500])
            assert answer.headers["content-security-policy"].startswith(CSP)
            assert answer.headers["content-type"].startswith("text/html")
            # No inline script or style: the CSP would block them.
            assert "<script>" not in answer.text and "style=" not in answer.text
            assert "<style" not in answer.text


def test_pages_load_assets_only_from_this_origin(as_role: dict[str, TestClient]) -> None:
    page = as_role["admin"].get("/").text
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith(("/", "#")), url
    css = as_role["admin"].get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert as_role["admin"].get("/static/..%2Fsources.py").status_code == 404
    assert as_role["admin"].get("/static/missing.js").status_code == 404


def test_without_a_session_every_page_leads_to_the_sign_in(
    api: TestClient, cw: ConsoleWorld
) -> None:
    anonymous = TestClient(api.app)
    for path in reads(cw):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/signin")
        assert answer.headers["content-security-policy"].startswith(CSP)


def test_an_empty_ledger_says_how_to_load_the_demo_and_where_the_admin_token_is(
    tmp_path: Path,
) -> None:
    with running_app(f"sqlite:///{tmp_path}/empty.db") as (api, _):
        page = api.get("/signin")
    assert page.status_code == 200
    assert "ledger demo" in page.text and "var/admin-token" in page.text


def test_sign_in_sets_a_strict_http_only_cookie_secure_over_https(
    api: TestClient, cw: ConsoleWorld
) -> None:
    browser = TestClient(api.app, base_url="https://testserver")
    page = browser.get("/signin")
    answer = browser.post(
        "/signin",
        data={"token": cw.tokens["auditor"], **hidden_fields(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("ledger_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert cw.tokens["auditor"] not in cookie
    plain = sign_in(api, cw.tokens["auditor"])
    assert plain.get("/").status_code == 200


def test_a_wrong_token_is_refused_and_opens_no_session(api: TestClient) -> None:
    browser = TestClient(api.app)
    page = browser.get("/signin")
    answer = browser.post("/signin", data={"token": "k123.nonsense", **hidden_fields(page.text)})
    assert answer.status_code == 401
    assert "ledger_session" not in browser.cookies
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_sign_in_without_its_csrf_token_is_refused(api: TestClient, cw: ConsoleWorld) -> None:
    browser = TestClient(api.app)
    answer = browser.post("/signin", data={"token": cw.tokens["admin"]})
    assert answer.status_code == 403
    assert "ledger_session" not in browser.cookies


def test_sign_in_goes_back_only_to_a_path_of_this_site(api: TestClient, cw: ConsoleWorld) -> None:
    browser = TestClient(api.app)
    page = browser.get("/signin?next=//evil.example/x")
    answer = browser.post(
        "/signin",
        data={"token": cw.tokens["admin"], **hidden_fields(page.text), "next": "//evil.example"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_sign_out_ends_the_session(api: TestClient, cw: ConsoleWorld) -> None:
    browser = sign_in(api, cw.tokens["auditor"])
    assert browser.get("/").status_code == 200
    browser.post("/signout", follow_redirects=False)
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_a_session_expires_when_idle(
    api: TestClient, cw: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = sign_in(api, cw.tokens["auditor"])
    assert browser.get("/").status_code == 200
    later = time.monotonic() + 31 * 60
    monkeypatch.setattr("ledger.console.sessions.time.monotonic", lambda: later)
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_a_revoked_key_is_signed_out_at_once(api: TestClient, cw: ConsoleWorld) -> None:
    key_id, headers = cw.world.key("auditor")
    browser = sign_in(api, headers["Authorization"].removeprefix("Bearer "))
    assert browser.get("/").status_code == 200
    assert api.delete(f"/v1/api-keys/{key_id}", headers=ADMIN).status_code in (200, 201, 204)
    assert browser.get("/", follow_redirects=False).status_code == 303


# ---- CSRF and idempotency -----------------------------------------------------------------


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    gold = cw.clients["gold"]
    manager = as_role["manager"]
    fields = {"channel": "phone", "staff_id": cw["M1"], "form_key": "k-no-csrf"}
    before = manager.get(f"/clients/{gold}/timeline").text.count('data-type="ContactLogged"')
    assert manager.post(f"/clients/{gold}/contacts", data=fields).status_code == 403
    wrong = {**fields, "csrf": "x" * 43}
    assert manager.post(f"/clients/{gold}/contacts", data=wrong).status_code == 403
    # Another session's token is wrong too.
    other = hidden_fields(as_role["admin"].get(f"/clients/{gold}").text, "log-contact")
    assert manager.post(f"/clients/{gold}/contacts", data={**fields, **other}).status_code == 403
    after = manager.get(f"/clients/{gold}/timeline").text.count('data-type="ContactLogged"')
    assert after == before


def test_a_form_sent_twice_writes_once(as_role: dict[str, TestClient], cw: ConsoleWorld) -> None:
    other = cw.clients["other"]
    admin = as_role["admin"]
    page = admin.get(f"/clients/{other}").text
    fields = {
        **hidden_fields(page, "log-contact"),
        "channel": "wechat",
        "staff_id": cw["M3"],
        "purpose": "double click",
    }
    first = admin.post(f"/clients/{other}/contacts", data=fields, follow_redirects=False)
    second = admin.post(f"/clients/{other}/contacts", data=fields, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    history = admin.get(f"/v1/clients/{other}/history", headers=ADMIN).json()["events"]
    assert [e["data"].get("purpose") for e in history].count("double click") == 1


# ---- roles and scope ----------------------------------------------------------------------


def test_a_manager_sees_and_writes_only_its_own_subtree(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    manager, other = as_role["manager"], cw.clients["other"]
    for path in (
        f"/clients/{other}",
        f"/clients/{other}/timeline",
        f"/roster?unit_id={cw['O3']}",
        f"/cases?unit_id={cw['B']}",
        f"/reports/overdue?unit_id={cw['O3']}",
        f"/reports/tier-growth?unit_id={cw['S2']}",
        f"/reports/portfolio?staff_id={cw['M3']}",
        f"/roster?unit_id={cw['O3']}&format=csv",
    ):
        assert manager.get(path).status_code == 403, path
    answer = post_form(
        manager,
        f"/clients/{cw.clients['gold']}",
        f"/clients/{other}/contacts",
        {"channel": "visit", "staff_id": cw["M1"]},
        "log-contact",
    )
    assert answer.status_code == 403
    units = manager.get("/roster").text
    assert cw["O1"] in units and cw["O3"] not in units


def test_a_manager_of_another_unit_cannot_open_the_case(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    assert as_role["manager_o3"].get(f"/cases/{cw.case_id}").status_code == 403


def test_a_manager_has_no_determination_form_and_a_forged_one_is_refused(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    manager = as_role["manager"]
    page = manager.get(f"/cases/{cw.case_id}")
    assert page.status_code == 200 and 'id="determine"' not in page.text
    forged = {
        **hidden_fields(manager.get(f"/clients/{cw.clients['gold']}").text, "log-contact"),
        "outcome": "waived",
        "reason": "forged",
    }
    answer = manager.post(f"/cases/{cw.case_id}/determination", data=forged)
    assert answer.status_code == 403
    assert "forged" not in as_role["admin"].get(f"/cases/{cw.case_id}").text


def test_an_auditor_has_no_write_form_and_a_forged_write_is_refused(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    auditor, gold = as_role["auditor"], cw.clients["gold"]
    page = auditor.get(f"/clients/{gold}").text
    assert '<form method="post" action="/clients/' not in page
    assert 'href="/register"' not in page
    fields = {**hidden_fields(auditor.get("/find").text), "channel": "visit", "staff_id": cw["M1"]}
    for action in ("contacts", "tier", "assign", "churn"):
        assert auditor.post(f"/clients/{gold}/{action}", data=fields).status_code == 403
    assert auditor.get("/register").status_code == 403
    assert 'id="determine"' not in auditor.get(f"/cases/{cw.case_id}").text


def _options(html: str, select: str) -> set[str]:
    start = html.index(f'<select name="{select}"')
    body = html[start : html.index("</select>", start)]
    return set(re.findall(r'<option value="([^"]*)"', body)) - {""}


def test_the_forms_offer_the_domains_closed_sets(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    admin = as_role["admin"]
    client = admin.get(f"/clients/{cw.clients['gold']}").text
    assert _options(client, "tier") == set(values_.TIERS)
    assert _options(client, "kind") == set(values_.CHURN_KINDS)
    assert _options(client, "channel") == set(values_.CHANNELS)
    assert _options(client, "role") == set(values_.TEAM_ROLES)
    roster = admin.get(f"/roster?unit_id={cw['O1']}").text
    assert _options(roster, "tier") == set(values_.TIERS)
    assert _options(roster, "status") == set(values_.CLIENT_STATUSES)
    case = admin.get(f"/cases/{cw.case_id}").text
    assert _options(case, "outcome") == set(values_.OUTCOMES)
    assert _options(case, "party") == set(values_.PARTIES)
    portfolio = admin.get(f"/reports/portfolio?staff_id={cw['M1']}&format=csv").text
    assert portfolio.lstrip("\ufeff").splitlines()[0].split(",")[3:-1] == list(values_.TIERS)


def test_integrity_is_for_auditors_and_admin(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    for role, status in (("auditor", 200), ("admin", 200), ("manager", 403), ("compliance", 403)):
        assert as_role[role].get("/integrity").status_code == status, role
        assert as_role[role].get("/integrity/digest.json").status_code == status, role
    assert 'href="/integrity"' not in as_role["manager"].get("/").text


def test_the_auditor_verifies_against_a_digest_and_downloads_the_bundle(
    as_role: dict[str, TestClient],
) -> None:
    auditor = as_role["auditor"]
    digest = auditor.get("/integrity/digest.json").json()
    answer = post_form(
        auditor,
        "/integrity",
        "/integrity/verify",
        {"position": str(digest["position"]), "hash": digest["hash"]},
        "verify-form",
    )
    assert answer.status_code == 200 and 'id="verify-result"' in answer.text
    assert "ok" in re.search(r'<p class="(\w+)" id="verify-result"', answer.text).group(1)
    bad = post_form(
        auditor,
        "/integrity",
        "/integrity/verify",
        {"position": str(digest["position"]), "hash": "0" * 64},
        "verify-form",
    )
    assert re.search(r'<p class="(\w+)" id="verify-result"', bad.text).group(1) == "error"
    bundle = auditor.get("/integrity/bundle")
    assert bundle.status_code == 200
    assert bundle.text.splitlines()[0].startswith('{"format": "ledger-bundle"')


def test_compliance_records_a_determination(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    compliance = as_role["compliance"]
    queue = compliance.get(f"/cases?unit_id={cw['O1']}&fiscal_year={cw.case_year}").text
    assert f"/cases/{cw.case_id}" in queue
    answer = post_form(
        compliance,
        f"/cases/{cw.case_id}",
        f"/cases/{cw.case_id}/determination",
        {"outcome": "confirmed", "reason": "no visit for a quarter"},
        "determine",
    )
    assert answer.status_code == 303
    page = compliance.get(f"/cases/{cw.case_id}").text
    assert "no visit for a quarter" in page
    tallies = compliance.get(
        f"/tallies?unit_id={cw['O1']}&fiscal_year={cw.case_year}&format=csv"
    ).text
    assert cw["M1"] in tallies


def test_a_manager_registers_a_client_and_logs_a_visit(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    manager = as_role["manager"]
    client_id = f"CN{time.time_ns() % 10**9}"
    answer = post_form(
        manager,
        "/register",
        "/register",
        {"client_id": client_id, "name": "李娜", "unit_id": cw["O1"], "tier": "gold"},
        "register",
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/clients/{client_id}"
    for action, fields in (
        ("contacts", {"channel": "visit", "staff_id": cw["M1"], "purpose": "welcome"}),
        ("assign", {"staff_id": cw["M1"], "role": "client_manager", "reason": "name list"}),
        ("tier", {"tier": "platinum", "reason": "assets above 3 million"}),
    ):
        form_id = {"contacts": "log-contact", "assign": "assign", "tier": "change-tier"}[action]
        answer = post_form(
            manager, f"/clients/{client_id}", f"/clients/{client_id}/{action}", fields, form_id
        )
        assert answer.status_code == 303, answer.text
    page = manager.get(f"/clients/{client_id}").text
    assert "李娜" in page and "tier-platinum" in page and "welcome" in page


def test_a_refused_command_shows_the_ledgers_reason(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    answer = post_form(
        as_role["manager"],
        f"/clients/{cw.clients['gold']}",
        f"/clients/{cw.clients['gold']}/contacts",
        {"channel": "visit", "staff_id": cw["M1"], "occurred_at": "2999-01-01T10:00"},
        "log-contact",
    )
    assert answer.status_code == 422
    assert "occurred_at" in answer.text


# ---- finding and reading ----------------------------------------------------------------------


def test_find_by_id_opens_the_client_and_by_name_lists_matches(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    auditor = as_role["auditor"]
    gold = cw.clients["gold"]
    answer = post_form(auditor, "/find", "/find", {"q": gold}, "find")
    assert answer.status_code == 303 and answer.headers["location"] == f"/clients/{gold}"
    listed = post_form(auditor, "/find", "/find", {"q": "wang"}, "find")
    assert listed.status_code == 200 and gold in listed.text
    scoped = post_form(as_role["manager"], "/find", "/find", {"q": cw.clients["other"]}, "find")
    assert scoped.status_code == 200 and f"/clients/{cw.clients['other']}" not in scoped.text


def test_the_roster_of_any_unit_as_of_any_day(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    auditor, gold, lost = as_role["auditor"], cw.clients["gold"], cw.clients["lost"]
    for unit in (cw["B"], cw["S1"], cw["O1"]):
        today = auditor.get("/roster", params={"unit_id": unit}).text
        assert f"/clients/{gold}" in today, unit
    before = (datetime.fromisoformat(at(0)) - timedelta(days=2)).date().isoformat()
    then = auditor.get("/roster", params={"unit_id": cw["B"], "as_of": before}).text
    assert f"/clients/{gold}" not in then and f"/clients/{lost}" not in then
    # Before its churn (day 300) the lost client is active on the roster; after it, churned.
    active = auditor.get(
        "/roster",
        params={"unit_id": cw["O1"], "as_of": at(200)[:10], "status": "active"},
    ).text
    assert f"/clients/{lost}" in active
    churned = auditor.get("/roster", params={"unit_id": cw["O1"], "status": "churned"}).text
    assert f"/clients/{lost}" in churned and f"/clients/{gold}" not in churned


def test_find_by_phone_lists_the_client_through_the_blind_index(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    client_id = cw.world.client("O1", "gold")
    cw.world.post(f"/v1/clients/{client_id}/profile", {"phone": "13912345678"})
    found = post_form(as_role["auditor"], "/find", "/find", {"q": "13912345678"}, "find")
    assert found.status_code == 200 and f"/clients/{client_id}" in found.text
    other = post_form(as_role["auditor"], "/find", "/find", {"q": "13912345679"}, "find")
    assert f"/clients/{client_id}" not in other.text
    # A manager of another outlet finds no one outside its subtree, by phone either.
    scoped = post_form(as_role["manager_o3"], "/find", "/find", {"q": "13912345678"}, "find")
    assert f"/clients/{client_id}" not in scoped.text


def test_the_timeline_strikes_through_a_retracted_event_and_links_its_retraction(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    gold = cw.clients["gold"]
    logged = cw.world.post(
        f"/v1/clients/{gold}/contacts",
        {"channel": "sms", "staff_id": cw["M1"], "occurred_at": _recent()},
    )
    retraction = cw.world.post(
        f"/v1/clients/{gold}/retractions", {"event_id": logged["event_id"], "reason": "typo"}
    )
    page = as_role["auditor"].get(f"/clients/{gold}/timeline").text
    row = page[page.index(f'id="{logged["event_id"]}"') :]
    row = row[: row.index("</tr>")]
    assert "retracted" in row and "<del>" in row and f'href="#{retraction["event_id"]}"' in row
    assert re.search(r"<code>[0-9a-f]{64}</code>", page)


def _recent() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


# ---- language ---------------------------------------------------------------------------------


def test_chinese_by_default_english_by_accept_language_or_the_switch(
    api: TestClient, cw: ConsoleWorld
) -> None:
    browser = sign_in(api, cw.tokens["manager"])
    path = f"/clients/{cw.clients['gold']}"
    assert "金卡" in browser.get(path).text and "管户经理" in browser.get(path).text
    english = browser.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert "Gold" in english and "金卡" not in english
    browser.get("/lang/en?next=/", follow_redirects=False)
    assert "Gold" in browser.get(path, headers={"Accept-Language": "zh-CN"}).text
    browser.get("/lang/zh?next=/")
    assert "金卡" in browser.get(path).text


def test_every_label_a_template_names_is_in_the_catalogue_in_both_languages() -> None:
    folder = Path(i18n.__file__).parent / "templates"
    named = set()
    for template in folder.glob("*.html"):
        named |= set(re.findall(r'_\("([a-z_]+\.[A-Za-z_0-9.]+)"\)', template.read_text()))
    assert named, "no label found: the pattern is wrong"
    missing = named - i18n.MESSAGES.keys()
    assert not missing
    for key, (zh, en) in i18n.MESSAGES.items():
        assert zh and en, key
    # A client's timeline shows its events; a case's late changes a unit's head events too.
    events = [
        "HeadAppointed",
        "HeadVacated",
        *(
            name
            for name, member in vars(Client).items()
            # The library gives each aggregate its own `Event` and `Created` bases.
            if isinstance(member, type)
            and issubclass(member, DomainEvent)
            and name not in ("Event", "Created")
        ),
    ]
    assert "ContactLogged" in events and "HeadAppointed" in events
    for prefix, values in {
        "tier": values_.TIERS,
        "staff": values_.STAFF_ROLES,
        "channel": values_.CHANNELS,
        "churn": values_.CHURN_KINDS,
        "outcome": values_.OUTCOMES,
        "status": values_.CLIENT_STATUSES,
        "source": values_.SOURCES,
        "risk": values_.RISK_APPETITES,
        "reason": values_.RISK_REASONS,
        "kind": values_.UNIT_KINDS,
        "role": ROLES,
        "event": events,
    }.items():
        for value in values:
            assert f"{prefix}.{value}" in i18n.MESSAGES, f"{prefix}.{value}"
    assert i18n.MESSAGES["tier.platinum"][0] == "白金卡"
    assert i18n.MESSAGES["tier.diamond"][0] == "钻石卡"
    assert i18n.MESSAGES["page.cases"][0] == "流失责任追究"


# ---- exports ------------------------------------------------------------------------------------


def test_exports_hold_every_matching_row_with_the_json_field_names(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    # Both reads see the roster as it is (no `after=`: API.md, Projections), so they hold the
    # same rows only once it has taken in the module's writes so far: a test before this one
    # registers a client through the API and does not wait for the read models.
    cw.world.caught_up()
    auditor = as_role["auditor"]
    api_rows = auditor.get(f"/v1/rosters?unit_id={cw['B']}", headers=ADMIN).json()["items"]
    as_csv = auditor.get(f"/roster?unit_id={cw['B']}&format=csv")
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert list(table[0]) == [
        "client_id",
        "name",
        "unit_id",
        "tier",
        "status",
        "designated_manager",
    ]
    assert [r["client_id"] for r in table] == [r["client_id"] for r in api_rows]
    as_xlsx = auditor.get(f"/roster?unit_id={cw['B']}&format=xlsx")
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(table[0])
    assert [r[0] for r in rows[1:]] == [r["client_id"] for r in api_rows]
    for path in (
        f"/cases?unit_id={cw['B']}",
        f"/clients/{cw.clients['gold']}/timeline",
        f"/reports/overdue?unit_id={cw['B']}",
        f"/reports/orphaned?unit_id={cw['B']}",
        f"/reports/at-risk?unit_id={cw['B']}",
        f"/reports/team-gaps?unit_id={cw['B']}",
        f"/reports/completeness?unit_id={cw['B']}",
        f"/reports/tier-growth?unit_id={cw['B']}",
        f"/tallies?unit_id={cw['B']}",
        f"/reports/portfolio?staff_id={cw['M1']}",
    ):
        sep = "&" if "?" in path else "?"
        answer = auditor.get(f"{path}{sep}format=xlsx")
        assert answer.status_code == 200, path
        load_workbook(io.BytesIO(answer.content))
    assert auditor.get(f"/roster?unit_id={cw['B']}&format=pdf").status_code == 422


def test_the_client_page_as_of_a_past_day_lists_only_the_contacts_made_by_then(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    gold = cw.clients["gold"]
    before = datetime.now(UTC)
    time.sleep(1.1)
    cw.world.post(
        f"/v1/clients/{gold}/contacts",
        {"channel": "phone", "staff_id": cw["M1"], "occurred_at": _recent(), "purpose": "今日来电"},
    )
    auditor = as_role["auditor"]
    assert "今日来电" in auditor.get(f"/clients/{gold}").text
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    assert "今日来电" not in auditor.get(f"/clients/{gold}?as_of={week_ago}").text
    known = auditor.get(f"/clients/{gold}", params={"known_at": before.isoformat()})
    assert known.status_code == 200 and "今日来电" not in known.text


def test_the_queue_shows_a_page_of_cases_and_exports_them_all(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    compliance = as_role["compliance"]
    base = f"/cases?unit_id={cw['O1']}&fiscal_year={cw.case_year}"
    assert f"/cases/{cw.case_id}" in compliance.get(base).text
    # The queue's last part (out of scope) holds no in-scope case; the download holds all.
    assert f"/cases/{cw.case_id}" not in compliance.get(f"{base}&after=2:").text
    assert cw.case_id in compliance.get(f"{base}&after=2:&format=csv").text
    assert compliance.get(f"{base}&after=9:").status_code == 422


def test_the_queue_pages_pending_then_ruled_then_out_of_scope_each_case_once(
    as_role: dict[str, TestClient], cw: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, compliance = cw.world, as_role["compliance"]
    out_of_scope = w.client("O1", "gold")
    w.post(
        f"/v1/clients/{out_of_scope}/churn",
        {"kind": "normal", "reason": "moved away", "effective_at": at(300)},
    )
    _, ruled_case, year = ruled_through_the_page(cw, compliance, "waived")
    monkeypatch.setattr(compliance_pages, "PAGE_ROWS", 1)
    path: str | None = f"/cases?unit_id={cw['O1']}&fiscal_year={year}"
    seen: list[tuple[str, str]] = []
    while path is not None:
        page = compliance.get(path.replace("&amp;", "&")).text
        seen.extend(re.findall(r'<tr class="(\w*)" data-case="([^"]+)">', page))
        found = re.search(r'id="next-page" href="([^"]+)"', page)
        path = found.group(1) if found else None
    cases = api_cases(cw, year)
    assert sorted(case for _, case in seen) == sorted(cases)
    # The pending first, then the ruled ones, then those out of scope.
    flags = [(not cases[case]["pending"], not cases[case]["in_scope"]) for _, case in seen]
    assert flags == sorted(flags)
    assert [c for c, case in seen if cases[case]["pending"]] == ["pending"] * sum(
        case["pending"] for case in cases.values()
    )
    outside = next(c for c, case in cases.items() if case["client_id"] == out_of_scope)
    assert {ruled_case, outside} <= {case for _, case in seen}


def ruled_through_the_page(
    cw: ConsoleWorld, compliance: TestClient, outcome: str, party: str = ""
) -> tuple[str, str, int]:
    """A new in-scope case of O1 (`churned_client`), ruled through its page on `party`
    (blank: the whole case): the client, the case and its fiscal year."""
    client_id, case_id = cw.world.churned_client()
    year = datetime.fromisoformat(at(40)).year
    api_cases(cw, year, after=cw.world.api.get("/v1/health").json()["position"])
    answer = post_form(
        compliance,
        f"/cases/{case_id}",
        f"/cases/{case_id}/determination",
        {"outcome": outcome, "reason": f"{outcome} on the facts of the day", "party": party},
        "determine",
    )
    assert answer.status_code == 303, answer.text
    return client_id, case_id, year


def api_cases(cw: ConsoleWorld, year: int, after: int | None = None) -> dict[str, dict]:
    """O1's cases of `year` through the API (once the read model holds `after`)."""
    params = {"unit_id": cw["O1"], "fiscal_year": year}
    answer = cw.world.api.get(
        "/v1/accountability/churn-cases",
        params={**params, **({"after": after} if after is not None else {})},
        headers=ADMIN,
    )
    assert answer.status_code == 200, answer.text
    return {case["case_id"]: case for case in answer.json()["items"]}


def test_a_ruling_a_late_entry_overtakes_shows_stale_on_the_case_page(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    w, compliance = cw.world, as_role["compliance"]
    client_id, case_id, year = ruled_through_the_page(cw, compliance, "confirmed")
    page = compliance.get(f"/cases/{case_id}").text
    assert "stale-mark" not in page and 'class="pending"' not in page
    for party in values_.PARTIES:
        assert f'data-party="{party}" data-outcome="confirmed"' in page
    later = w.hire("M_late", "O1", "client_manager", at(0))
    assignment = w.post(
        f"/v1/clients/{client_id}/assignments",
        {"staff_id": later, "reason": "the name list, found late", "effective_at": at(20)},
    )
    api_cases(cw, year, after=assignment["position"])
    page = compliance.get(f"/cases/{case_id}").text
    assert 'class="stale-mark"' in page and 'class="pending"' in page
    for party in values_.PARTIES:
        assert f'data-party="{party}" data-outcome="pending"' in page
    late = page.split('id="late-changes"', 1)[1].split("</section>", 1)[0]
    assert f'data-event="{assignment["event_id"]}" data-type="Assigned"' in late
    assert f'href="/clients/{client_id}/timeline#{assignment["event_id"]}"' in late
    queue = compliance.get(f"/cases?unit_id={cw['O1']}&fiscal_year={year}").text
    assert f'<tr class="pending" data-case="{case_id}">' in queue


def test_the_auditor_verifies_a_pasted_digest_file(as_role: dict[str, TestClient]) -> None:
    auditor = as_role["auditor"]
    kept = auditor.get("/integrity/digest.json").text
    answer = post_form(auditor, "/integrity", "/integrity/verify", {"digest": kept}, "verify-form")
    assert re.search(r'<p class="(\w+)" id="verify-result"', answer.text).group(1) == "ok"
    other = json.dumps({**json.loads(kept), "hash": "0" * 64})
    answer = post_form(auditor, "/integrity", "/integrity/verify", {"digest": other}, "verify-form")
    assert re.search(r'<p class="(\w+)" id="verify-result"', answer.text).group(1) == "error"
    broken = post_form(
        auditor, "/integrity", "/integrity/verify", {"digest": "{not json"}, "verify-form"
    )
    assert broken.status_code == 422


def test_the_auditor_downloads_one_clients_bundle_with_its_proofs(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    gold = cw.clients["gold"]
    timeline = as_role["auditor"].get(f"/clients/{gold}/timeline").text
    assert f'href="/clients/{gold}/bundle"' in timeline
    bundle = as_role["auditor"].get(f"/clients/{gold}/bundle")
    assert bundle.status_code == 200
    lines = [json.loads(line) for line in bundle.text.splitlines()]
    assert gold in json.dumps(lines[0])
    assert len(lines) > 1
    assert as_role["manager"].get(f"/clients/{gold}/bundle").status_code == 403
    assert (
        f'href="/clients/{gold}/bundle"'
        not in as_role["manager"].get(f"/clients/{gold}/timeline").text
    )


def test_the_case_page_lists_late_changes_and_determines_a_party(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    page = as_role["compliance"].get(f"/cases/{cw.case_id}").text
    late = page.split('id="late-changes"', 1)[1].split("</section>", 1)[0]
    # The world's assignment was dated a year back when it was recorded: entered late.
    assert 'data-type="Assigned"' in late and "分配</a>" in late
    assert 'name="party"' in page and 'value="unit_head"' in page


def test_a_ruling_on_one_party_leaves_the_other_pending(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    compliance = as_role["compliance"]
    _, case_id, _ = ruled_through_the_page(cw, compliance, "waived", "designated_manager")
    page = compliance.get(f"/cases/{case_id}").text
    assert 'data-party="designated_manager" data-outcome="waived"' in page
    assert 'data-party="unit_head" data-outcome="pending"' in page
    assert 'class="pending"' in page


def test_a_client_page_is_in_the_read_log(
    api: TestClient, as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    other = cw.clients["other"]
    assert as_role["auditor"].get(f"/clients/{other}").status_code == 200
    answer = api.get("/v1/audit/reads", params={"client_id": other}, headers=ADMIN)
    paths = [(r["role"], r["path"]) for r in answer.json()["items"]]
    assert ("auditor", f"/clients/{other}") in paths


def test_the_at_risk_board_names_the_gold_clients_reasons(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    page = as_role["auditor"].get(f"/reports/at-risk?unit_id={cw['B']}")
    assert page.status_code == 200
    assert cw.clients["gold"] in page.text
    assert "团队缺位" in page.text or "team gap" in page.text
