"""The console's pages for the reports of the later issues (maintenance, referrals,
segments, prospects, complaints) and the audit desk (audit log, read log, erasure): each
route per role and scope, its downloads against the API's, the acknowledge and erasure
forms. The browser tests (test_console_browser.py) drive some of the same pages."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from support.api_world import ADMIN, ADMIN_TOKEN, World, at, new_id, ok, running_app
from support.console_support import ConsoleWorld, hidden_fields, post_form, sign_in

CSP = "default-src 'self'"
ROLES = ("admin", "manager", "auditor", "compliance")
COMPLAINT = "手续费太高"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ConsoleWorld]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('desk')}/ledger.db"
    with running_app(url) as (api, _):
        cw = ConsoleWorld(World(api).build()).build()
        w, gold = cw.world, cw.clients["gold"]
        w.post(
            f"/v1/clients/{gold}/contacts",
            {
                "channel": "phone",
                "staff_id": w["M1"],
                "occurred_at": at(200),
                "complaint": True,
                "summary": COMPLAINT,
            },
        )
        w.post(f"/v1/clients/{gold}/assets", {"amount": "6000000.00", "as_of": at(2)[:10]})
        referred = new_id("C")
        w.post(
            "/v1/clients",
            {
                "client_id": referred,
                "name": "Zhao Lei",
                "unit_id": w["O1"],
                "tier": "gold",
                "occurred_at": at(150),
                "source": "referral",
                "referred_by": gold,
            },
        )
        cw.clients["referred"] = referred
        w.post(
            "/v1/prospects",
            {
                "prospect_id": new_id("P"),
                "name": "Li Lei",
                "unit_id": w["O1"],
                "source": "media",
                "owner_staff_id": w["M1"],
                "occurred_at": at(100),
            },
        )
        # M3's assignment on a client of O1: M1 sees it but may not sign for it.
        theirs = w.client("O1", "gold")
        w.post(
            f"/v1/clients/{theirs}/assignments",
            {"staff_id": w["M3"], "reason": "cover", "effective_at": at(2)},
        )
        cw.clients["theirs"] = theirs
        yield api, cw


@pytest.fixture(scope="module")
def api(app: tuple[TestClient, ConsoleWorld]) -> TestClient:
    return app[0]


@pytest.fixture(scope="module")
def cw(app: tuple[TestClient, ConsoleWorld]) -> ConsoleWorld:
    return app[1]


@pytest.fixture(scope="module")
def as_role(api: TestClient, cw: ConsoleWorld) -> dict[str, TestClient]:
    return {role: sign_in(api, token) for role, token in cw.tokens.items()}


def unit_reports(cw: ConsoleWorld, unit: str) -> list[str]:
    """Every new report of a unit, read by any role within its scope."""
    period = f"from={at(0)[:10]}&to={at(365)[:10]}"
    return [
        f"/reports/duties-overdue?unit_id={unit}",
        f"/reports/leader-visits?unit_id={unit}&{period}&min_assets=0",
        f"/reports/unacknowledged?unit_id={unit}",
        f"/reports/segments?unit_id={unit}&by=tier",
        f"/reports/referrals?unit_id={unit}&{period}",
        f"/reports/complaints?unit_id={unit}&{period}",
        f"/reports/funnel?unit_id={unit}&{period}",
    ]


AUDIT_PAGES = ("/audit/events", "/audit/reads")


def test_every_new_report_answers_every_role_in_scope(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    for role in ROLES:
        for path in [
            *unit_reports(cw, cw["O1"]),
            f"/reports/referral-tree?client_id={cw.clients['gold']}",
        ]:
            answer = as_role[role].get(path)
            assert answer.status_code == 200, (role, path, answer.text[:400])
            assert answer.headers["content-security-policy"].startswith(CSP)
            assert "style=" not in answer.text and "<script>" not in answer.text


def test_a_manager_reads_no_report_outside_its_subtree_nor_its_download(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    manager = as_role["manager"]
    for path in unit_reports(cw, cw["O3"]):
        assert manager.get(path).status_code == 403, path
        assert manager.get(f"{path}&format=csv").status_code == 403, path
    tree = f"/reports/referral-tree?client_id={cw.clients['other']}"
    assert manager.get(tree).status_code == 403
    assert as_role["manager_o3"].get(unit_reports(cw, cw["O1"])[0]).status_code == 403


def test_the_audit_desk_is_for_auditors_compliance_and_admin(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    for path in AUDIT_PAGES:
        for role in ("admin", "auditor", "compliance"):
            assert as_role[role].get(path).status_code == 200, (role, path)
            assert as_role[role].get(f"{path}?format=csv").status_code == 200, (role, path)
        assert as_role["manager"].get(path).status_code == 403, path
        assert as_role["manager"].get(f"{path}?format=xlsx").status_code == 403, path
    assert 'href="/audit/events"' in as_role["compliance"].get("/").text
    assert 'href="/audit/events"' not in as_role["manager"].get("/").text


def test_erasure_and_the_erasable_list_are_for_admin_only(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    gold = cw.clients["gold"]
    for role in ("manager", "auditor", "compliance"):
        browser = as_role[role]
        assert browser.get(f"/privacy/erasable?unit_id={cw['O1']}").status_code == 403, role
        assert browser.get(f"/clients/{gold}/erasure").status_code == 403, role
        fields = {
            **hidden_fields(browser.get("/find").text),
            "reason": "forged",
            "legal_basis": "PIPL art. 47",
        }
        assert browser.post(f"/clients/{gold}/erasure", data=fields).status_code == 403, role
        assert 'href="/privacy/erasable"' not in browser.get("/").text
    admin = as_role["admin"]
    assert admin.get(f"/privacy/erasable?unit_id={cw['O1']}").status_code == 200
    assert 'href="/privacy/erasable"' in admin.get("/").text
    assert admin.get("/clients/C-unknown/erasure").status_code == 404


def test_an_erasure_within_the_retention_period_is_refused_with_the_apis_reason(
    api: TestClient, as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    lost = cw.clients["lost"]
    body = {"reason": "the client asked", "legal_basis": "PIPL art. 47"}
    refused = api.post(f"/v1/clients/{lost}/erasure", json=body, headers=ADMIN)
    assert refused.status_code == 409
    answer = post_form(
        as_role["admin"], f"/clients/{lost}/erasure", f"/clients/{lost}/erasure", body, "erase"
    )
    assert answer.status_code == 409
    assert refused.json()["detail"] in answer.text.replace("&#39;", "'")
    assert "Wang Fang" in as_role["admin"].get(f"/clients/{lost}").text


def test_admin_erases_a_client_past_its_retention_period(tmp_path: object) -> None:
    with running_app(f"sqlite:///{tmp_path}/erase.db", retention_years=0) as (api, _):
        cw = ConsoleWorld(World(api).build()).build()
        admin = sign_in(api, cw.tokens["admin"])
        lost = cw.clients["lost"]
        listed = admin.get(f"/privacy/erasable?unit_id={cw['B']}")
        assert f'href="/clients/{lost}/erasure"' in listed.text
        assert cw.clients["gold"] not in listed.text  # active: never erasable
        answer = post_form(
            admin,
            f"/clients/{lost}/erasure",
            f"/clients/{lost}/erasure",
            {"reason": "the client asked", "legal_basis": "PIPL art. 47"},
            "erase",
        )
        assert answer.status_code == 303, answer.text
        assert "Wang Fang" not in admin.get(f"/clients/{lost}").text
        assert lost not in admin.get(f"/privacy/erasable?unit_id={cw['B']}").text
        history = api.get(f"/v1/clients/{lost}/history", headers=ADMIN).json()["events"]
        erased = [e for e in history if e["type"] == "Erased"]
        assert erased and erased[0]["recorded_by"] == "admin"


def test_the_assignee_acknowledges_its_own_assignment_and_no_one_elses(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    manager, gold, theirs = as_role["manager"], cw.clients["gold"], cw.clients["theirs"]
    path = f"/reports/unacknowledged?unit_id={cw['O1']}"
    page = manager.get(path).text
    assert gold in page and theirs in page
    # The filter form sent with its number field blank reads the default age.
    assert gold in manager.get(path, params={"older_than_days": ""}).text
    assert manager.get(path, params={"older_than_days": "x"}).status_code == 422
    mine = _assignment_of(cw, gold, cw["M1"])
    other = _assignment_of(cw, theirs, cw["M3"])
    assert f'id="ack-{mine}"' in page and f'id="ack-{other}"' not in page
    assert 'id="ack-' not in as_role["auditor"].get(path).text
    # A forged acknowledgement of M3's assignment is refused by the ledger's own rule.
    forged = {**hidden_fields(page, f"ack-{mine}"), "event_id": other}
    assert manager.post(f"/clients/{theirs}/acknowledge", data=forged).status_code == 403
    auditor_fields = {**hidden_fields(as_role["auditor"].get("/find").text), "event_id": mine}
    assert (
        as_role["auditor"].post(f"/clients/{gold}/acknowledge", data=auditor_fields).status_code
        == 403
    )
    answer = post_form(
        manager,
        path,
        f"/clients/{gold}/acknowledge",
        {"event_id": mine, "next": path},  # the form's own hidden fields
        f"ack-{mine}",
    )
    assert answer.status_code == 303 and answer.headers["location"] == path
    after = manager.get(path).text
    assert f'id="ack-{mine}"' not in after and theirs in after
    history = cw.world.api.get(f"/v1/clients/{gold}/history", headers=ADMIN).json()["events"]
    assert any(e["type"] == "AssignmentAcknowledged" for e in history)


def _assignment_of(cw: ConsoleWorld, client_id: str, staff_id: str) -> str:
    history = cw.world.api.get(f"/v1/clients/{client_id}/history", headers=ADMIN).json()
    return next(
        e["event_id"]
        for e in history["events"]
        if e["type"] == "Assigned" and e["data"]["staff_id"] == staff_id
    )


def _csv(answer: object) -> list[dict[str, str]]:
    return _table(answer)[1]


def _table(answer: object) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV download's header row and its rows."""
    content = answer.content  # type: ignore[attr-defined]
    assert content.startswith(b"\xef\xbb\xbf")
    header, *rows = csv.reader(io.StringIO(content.decode("utf-8-sig")))
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def test_downloads_hold_the_apis_rows_under_the_apis_headers(
    api: TestClient, as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    o1, period = cw["O1"], {"from": at(0), "to": at(365)}
    auditor = as_role["auditor"]
    for console, endpoint, params in (
        ("/reports/duties-overdue", "/v1/reports/duties-overdue", {"unit_id": o1}),
        ("/reports/unacknowledged", "/v1/reports/unacknowledged-assignments", {"unit_id": o1}),
        (
            "/reports/leader-visits",
            "/v1/reports/leader-visits",
            {"unit_id": o1, **period, "min_assets": "0"},
        ),
        ("/reports/complaints", "/v1/reports/complaints", {"unit_id": o1, **period}),
        ("/audit/events", "/v1/audit/events", {"client_id": cw.clients["gold"]}),
        ("/audit/reads", "/v1/audit/reads", {}),
    ):
        ours = auditor.get(console, params={**params, "format": "csv"})
        theirs = api.get(endpoint, params={**params, "format": "csv"}, headers=ADMIN)
        assert ours.status_code == theirs.status_code == 200, (console, ours.text[:300])
        (header, mine), (expected_header, expected) = _table(ours), _table(theirs)
        assert header == expected_header, console
        assert expected or console == "/audit/reads", console  # a test of something
        assert [r[header[0]] for r in mine] == [r[header[0]] for r in expected], console
        sheet = load_workbook(
            io.BytesIO(auditor.get(console, params={**params, "format": "xlsx"}).content)
        ).active
        header = next(sheet.iter_rows(values_only=True))  # type: ignore[assignment]
        assert list(header) == expected_header, console
    complaints = _csv(
        auditor.get("/reports/complaints", params={"unit_id": o1, **period, "format": "csv"})
    )
    assert [row["summary"] for row in complaints] == [COMPLAINT]


def test_the_reports_show_what_the_ledger_holds(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    auditor, o1 = as_role["auditor"], cw["O1"]
    period = {"from": at(0)[:10], "to": at(365)[:10]}
    funnel = auditor.get("/reports/funnel", params={"unit_id": o1, **period}).text
    assert "媒体" in funnel and "客户转介" in funnel
    segments = auditor.get("/reports/segments", params={"unit_id": o1, "by": "tier"}).text
    assert "金卡" in segments
    assert auditor.get("/reports/segments", params={"unit_id": o1, "by": "age"}).status_code == 422
    tree = auditor.get("/reports/referral-tree", params={"client_id": cw.clients["gold"]}).text
    assert f'href="/clients/{cw.clients["referred"]}"' in tree
    rows = _csv(
        auditor.get(
            "/reports/referral-tree", params={"client_id": cw.clients["gold"], "format": "csv"}
        )
    )
    assert [(r["client_id"], r["referred_by"]) for r in rows] == [
        (cw.clients["gold"], ""),
        (cw.clients["referred"], cw.clients["gold"]),
    ]
    complaints = auditor.get("/reports/complaints", params={"unit_id": o1, **period}).text
    assert COMPLAINT in complaints and 'id="breakdown"' in complaints
    english = auditor.get(
        "/reports/complaints",
        params={"unit_id": o1, **period},
        headers={"Accept-Language": "en"},
    ).text
    assert "Complaints" in english and "客户投诉" not in english


def test_the_audit_log_filters_as_the_api_does(
    api: TestClient, as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    compliance, gold = as_role["compliance"], cw.clients["gold"]
    page = compliance.get("/audit/events", params={"client_id": gold, "type": "ContactLogged"})
    assert page.status_code == 200
    assert COMPLAINT in page.text and "Registered" not in page.text.split('id="listing"')[1]
    late = compliance.get("/audit/events", params={"late_by_days": "300"}).text
    # The world's assignments were dated a year back when recorded: late by over 300 days.
    assert "Assigned" in late.split('id="listing"')[1]
    assert "ContactLogged" not in late.split('id="listing"')[1]
    by_recorder = compliance.get("/audit/events", params={"recorded_by": "nobody"}).text
    assert 'id="next-page"' not in by_recorder and "没有匹配的记录" in by_recorder
    assert compliance.get("/audit/events", params={"recorded_from": "20x"}).status_code == 422
    assert compliance.get("/audit/events", params={"late_by_days": "-1"}).status_code == 422
    # A form sent with its number fields blank, as a browser sends them.
    blank = {"client_id": gold, "late_by_days": "", "effective_from": "", "type": ""}
    assert COMPLAINT in compliance.get("/audit/events", params=blank).text
    # A read of the client made here: the test must not lean on another test's reads
    # (under pytest-xdist another process may run those).
    ok(cw.world.api.get(f"/v1/clients/{gold}", headers=ADMIN))
    reads = compliance.get("/audit/reads", params={"client_id": gold}).text
    assert f"/clients/{gold}" in reads


def test_the_audit_log_pages_through_the_log(
    as_role: dict[str, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ledger.console.pages.listings.PAGE_ROWS", 5)
    auditor = as_role["auditor"]
    first = auditor.get("/audit/events").text
    link = first.split('id="next-page"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = auditor.get(link.replace("&amp;", "&")).text
    assert _positions(first) == [1, 2, 3, 4, 5]
    assert _positions(second) == [6, 7, 8, 9, 10]


def _positions(page: str) -> list[int]:
    table = page.split('id="listing"')[1]
    rows = table.split("<tr>")[2:]  # after the header row
    return [int(row.split('<td class="num">')[1].split("<")[0]) for row in rows]


UNTRANSLATED = re.compile(r"\b(?:f|page|msg|form|nav|staff|tier|source|role|risk)\.[a-z_]+\b")


def test_every_label_of_the_new_pages_is_translated_in_both_languages(
    as_role: dict[str, TestClient], cw: ConsoleWorld
) -> None:
    admin = as_role["admin"]
    pages = [
        *unit_reports(cw, cw["O1"]),
        *AUDIT_PAGES,
        f"/privacy/erasable?unit_id={cw['O1']}",
        f"/clients/{cw.clients['lost']}/erasure",
        f"/reports/referral-tree?client_id={cw.clients['gold']}",
        "/reports",
        *(f"/reports/segments?unit_id={cw['O1']}&by={by}" for by in ("source", "risk_appetite")),
    ]
    for lang in ("zh-CN", "en"):
        for path in pages:
            text = admin.get(path, headers={"Accept-Language": lang}).text
            assert not UNTRANSLATED.findall(text.split("<main>")[1]), (lang, path)


def test_the_completeness_page_holds_units_to_the_configured_target(tmp_path) -> None:
    """LEDGER_COMPLETENESS_TARGET is the page's target unless the form names another, as it
    is the API's."""
    with running_app(f"sqlite:///{tmp_path}/ledger.db", completeness_target=0.5) as (api, _):
        world = World(api).build()
        browser = sign_in(api, ADMIN_TOKEN)
        page = browser.get("/reports/completeness", params={"unit_id": world["B"]})
        assert page.status_code == 200, page.text
        assert 'name="target" value="0.5"' in page.text
        chosen = {"unit_id": world["B"], "target": "0.8"}
        assert (
            'name="target" value="0.8"' in browser.get("/reports/completeness", params=chosen).text
        )
