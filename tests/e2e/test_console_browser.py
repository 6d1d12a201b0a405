"""The console in a real Chromium against a real `ledger serve` on SQLite: each role's main
job through the page, the refusals, the downloads, and screenshots at 1280 and 390 px."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from openpyxl import load_workbook

from support.browser import chromium as launch_chromium
from support.browser import shoot
from support.served import ADMIN, CLIENTS_SINCE, Server, build_org, moment, new_id, post

pytestmark = pytest.mark.browser


@dataclass
class Scene:
    url: str
    outlet: str
    sub_branch: str
    manager: str
    overdue: str  # gold, never contacted: overdue
    lost: str  # platinum, abnormal churn: an in-scope case
    moved: str  # gold, then platinum, then diamond
    known_between: datetime  # recorded after the platinum upgrade, before the diamond one
    log: Path
    case_id: str = ""
    tokens: dict[str, str] = field(default_factory=dict)


def _client(http: httpx.Client, outlet: str, tier: str, name: str, manager: str) -> str:
    client_id = new_id("C")
    post(
        http,
        "/v1/clients",
        {
            "client_id": client_id,
            "name": name,
            "unit_id": outlet,
            "tier": tier,
            "occurred_at": CLIENTS_SINCE.isoformat(),
        },
    )
    post(
        http,
        f"/v1/clients/{client_id}/assignments",
        {"staff_id": manager, "reason": "name list", "effective_at": moment(1)},
    )
    return client_id


COMPLAINT = "理财产品手续费太高"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    workdir = tmp_path_factory.mktemp("console-browser")
    server = Server(f"sqlite:///{workdir}/ledger.db", workdir)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            org = build_org(http, managers=2)
            manager = org.staff[0]
            overdue = _client(http, org.outlet, "gold", "王芳", manager)
            lost = _client(http, org.outlet, "platinum", "张伟", manager)
            moved = _client(http, org.outlet, "gold", "刘洋", manager)
            post(
                http,
                f"/v1/clients/{moved}/tier-changes",
                {"tier": "platinum", "reason": "assets up", "effective_at": moment(200)},
            )
            time.sleep(1.1)
            known_between = datetime.now(UTC)
            time.sleep(1.1)
            post(
                http,
                f"/v1/clients/{moved}/tier-changes",
                {"tier": "diamond", "reason": "assets up again", "effective_at": moment(250)},
            )
            # A complaint before the client left: the complaints page has a row to show.
            post(
                http,
                f"/v1/clients/{lost}/contacts",
                {
                    "channel": "phone",
                    "staff_id": manager,
                    "occurred_at": moment(150),
                    "complaint": True,
                    "summary": COMPLAINT,
                },
            )
            churn = post(
                http,
                f"/v1/clients/{lost}/churn",
                {
                    "kind": "abnormal",
                    "reason": "moved to a competitor",
                    "effective_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                },
            )
            scene = Scene(
                url=server.url,
                outlet=org.outlet,
                sub_branch=org.sub_branch,
                manager=manager,
                overdue=overdue,
                lost=lost,
                moved=moved,
                known_between=known_between,
                log=server.log,
                case_id=churn["event_id"],
            )
            for role, staff in (("manager", manager), ("auditor", None), ("compliance", None)):
                body = {"role": role, "label": f"{role} in the browser test"}
                if staff:
                    body["staff_id"] = staff
                scene.tokens[role] = post(http, "/v1/api-keys", body)["token"]
            scene.tokens["admin"] = ADMIN["Authorization"].removeprefix("Bearer ")
        yield scene
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with launch_chromium() as browser:
        yield browser


def signed_in(chromium: object, scene: Scene, role: str, locale: str = "zh-CN") -> object:
    context = chromium.new_context(  # type: ignore[attr-defined]
        base_url=scene.url,
        locale=locale,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    page.goto("/signin")
    page.fill("input[name=token]", scene.tokens[role])
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(f"{scene.url}/")
    return page


def test_the_sign_in_page_renders_chinese(chromium: object, scene: Scene) -> None:
    context = chromium.new_context(base_url=scene.url, locale="zh-CN")  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/signin")
    assert page.locator("h1").inner_text() == "登录"
    shoot(page, "signin")
    context.close()


def test_the_manager_logs_a_visit_that_shows_in_the_timeline_and_clears_the_overdue_list(
    chromium: object, scene: Scene
) -> None:
    page = signed_in(chromium, scene, "manager")
    overdue = page.locator("#overdue")
    assert overdue.get_by_role("link", name=scene.overdue).count() == 1
    shoot(page, "manager-day")
    overdue.get_by_role("link", name=scene.overdue).click()
    page.wait_for_url(f"**/clients/{scene.overdue}")
    shoot(page, "client")
    form = page.locator("#log-contact")
    form.locator("select[name=channel]").select_option("visit")
    form.locator("input[name=purpose]").fill("年度回访")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/clients/{scene.overdue}")
    assert "年度回访" in page.locator("#contacts").inner_text()
    page.get_by_role("link", name="事件时间线").click()
    # `count()` does not wait: read the timeline once it has loaded, not the page before it.
    page.wait_for_url(f"**/clients/{scene.overdue}/timeline?*")
    assert page.locator("tr[data-type=ContactLogged]").count() == 1
    assert "年度回访" in page.locator("tr[data-type=ContactLogged]").inner_text()
    page.goto("/")
    assert page.locator("#overdue").get_by_role("link", name=scene.overdue).count() == 0
    page.context.close()


def test_compliance_records_a_determination(chromium: object, scene: Scene) -> None:
    page = signed_in(chromium, scene, "compliance")
    page.goto(f"/cases?unit_id={scene.outlet}")
    row = page.locator(f"tr[data-case='{scene.case_id}']")
    assert "待认定" in row.inner_text()
    shoot(page, "cases")
    row.get_by_role("link").click()
    page.wait_for_url(f"**/cases/{scene.case_id}")
    assert page.locator("svg.timeline rect.interval").count() >= 1
    shoot(page, "case")
    form = page.locator("#determine")
    form.locator("select[name=outcome]").select_option("confirmed")
    form.locator("textarea[name=reason]").fill("一个季度未拜访")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/cases/{scene.case_id}")
    standing = page.locator("#determinations li.standing").inner_text()
    assert "确认追责" in standing and "一个季度未拜访" in standing
    page.goto(f"/cases?unit_id={scene.outlet}")
    assert "待认定" not in page.locator(f"tr[data-case='{scene.case_id}']").inner_text()
    page.context.close()


def test_the_auditor_reads_as_of_and_as_known_at_and_verifies_the_chain(
    chromium: object, scene: Scene
) -> None:
    page = signed_in(chromium, scene, "auditor", locale="en-GB")
    page.goto(f"/clients/{scene.moved}")
    assert "tier-diamond" in page.locator("h1").inner_html()
    as_of = (CLIENTS_SINCE + timedelta(days=100)).date().isoformat()
    page.fill("input[name=as_of]", as_of)
    page.click("form.when button[type=submit]")
    page.wait_for_url(f"**as_of={as_of}**")
    assert "tier-gold" in page.locator("h1").inner_html()
    known = quote(scene.known_between.isoformat(timespec="seconds"))
    page.goto(f"/clients/{scene.moved}?known_at={known}")
    assert "tier-platinum" in page.locator("h1").inner_html()
    page.goto(f"/clients/{scene.moved}/timeline?known_at={known}")
    assert page.locator("tr.unknown[data-type=TierChanged]").count() == 1
    assert page.locator("tr:not(.unknown)[data-type=TierChanged]").count() == 1
    # The form shows the recorded time asked, to the second in the bank's time, and sent
    # again it asks the same.
    local = scene.known_between.astimezone(timezone(timedelta(hours=8)))
    field = page.locator("form.when input[name=known_at]")
    # The browser gives a time of zero seconds without them (HTML's normalized form).
    assert field.input_value() == local.strftime("%Y-%m-%dT%H:%M" + (":%S" if local.second else ""))
    page.click("form.when button[type=submit]")
    page.wait_for_url("**/timeline?*known_at=*")
    assert page.locator("tr.unknown[data-type=TierChanged]").count() == 1
    assert local.strftime("%Y-%m-%d %H:%M:%S") in page.locator("#state-then").inner_text()
    shoot(page, "timeline")
    page.goto("/integrity")
    position = page.locator("#digest-position").inner_text()
    chain_hash = page.locator("#digest-hash").inner_text()
    form = page.locator("#verify-form")
    form.locator("input[name=position]").fill(position)
    form.locator("input[name=hash]").fill(chain_hash)
    form.locator("button[type=submit]").click()
    result = page.locator("#verify-result")
    assert result.get_attribute("class") == "ok", result.inner_text()
    shoot(page, "integrity")
    page.context.close()


def test_a_manager_has_no_determination_form_and_a_forged_post_is_refused(
    chromium: object, scene: Scene
) -> None:
    page = signed_in(chromium, scene, "manager")
    page.goto(f"/cases/{scene.case_id}")
    assert page.locator("#case-facts").count() == 1
    assert page.locator("#determine").count() == 0
    page.goto(f"/clients/{scene.overdue}")
    csrf = page.locator("#log-contact input[name=csrf]").input_value()
    forged = page.request.post(
        f"/cases/{scene.case_id}/determination",
        form={"csrf": csrf, "form_key": "forged", "outcome": "waived", "reason": "forged"},
    )
    assert forged.status == 403
    page.context.close()


def test_a_post_without_the_csrf_token_is_refused(chromium: object, scene: Scene) -> None:
    page = signed_in(chromium, scene, "manager")
    answer = page.request.post(
        f"/clients/{scene.overdue}/contacts",
        form={"form_key": "no-csrf", "channel": "visit", "staff_id": scene.manager},
    )
    assert answer.status == 403
    page.goto(f"/clients/{scene.overdue}/timeline")
    assert page.locator("tr[data-type=ContactLogged]").count() <= 1
    page.context.close()


def test_the_downloaded_csv_and_xlsx_hold_the_rows_on_screen(
    chromium: object, scene: Scene, tmp_path: Path
) -> None:
    page = signed_in(chromium, scene, "auditor")
    page.goto(f"/roster?unit_id={scene.sub_branch}")
    on_screen = page.locator("table.rows tbody tr td:first-child").all_inner_texts()
    assert len(on_screen) == 3
    shoot(page, "roster")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV").click()
    data = Path(csv_download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["client_id"] for r in rows] == on_screen
    assert {r["name"] for r in rows} == {"王芳", "张伟", "刘洋"}
    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Excel").click()
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][:2] == ("client_id", "name")
    assert [r[0] for r in table[1:]] == on_screen
    page.context.close()


def test_the_reports_fit_a_phone(chromium: object, scene: Scene) -> None:
    page = signed_in(chromium, scene, "admin")
    for name, path in (
        ("tier-growth", f"/reports/tier-growth?unit_id={scene.sub_branch}"),
        ("completeness", f"/reports/completeness?unit_id={scene.sub_branch}"),
        ("desk", "/"),
    ):
        page.goto(path)
        assert page.locator("h1").count() == 1
        shoot(page, name)
    page.goto(f"/reports/tier-growth?unit_id={scene.sub_branch}")
    assert page.locator("svg.chart rect.bar").count() >= 1
    page.context.close()


def test_the_server_log_holds_no_token_and_no_personal_data(scene: Scene) -> None:
    log = scene.log.read_text(errors="replace")
    assert "GET /clients/" in log  # the access log is there, and was read
    for token in scene.tokens.values():
        secret = token.partition(".")[2] or token  # an API key's secret, or the admin token
        assert secret not in log
    for personal in ("王芳", "张伟", "刘洋", "年度回访", "一个季度未拜访"):
        assert personal not in log


def test_the_auditor_searches_the_audit_log(chromium: object, scene: Scene) -> None:
    page = signed_in(chromium, scene, "auditor")
    page.get_by_role("link", name="审计日志").first.click()
    page.wait_for_url("**/audit/events")
    form = page.locator("#filters")
    form.locator("input[name=client_id]").fill(scene.moved)
    form.locator("input[name=type]").fill("TierChanged")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**client_id=*")
    rows = page.locator("#listing tbody tr")
    assert rows.count() == 2
    assert all("TierChanged" in text for text in rows.all_inner_texts())
    assert "diamond" in rows.nth(1).inner_text()
    shoot(page, "audit-log")
    # On a phone the table scrolls sideways rather than squeezing an event's data to a word.
    page.set_viewport_size({"width": 390, "height": 900})
    assert page.locator("#listing td.data").first.bounding_box()["width"] >= 200
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/audit/reads?client_id={scene.moved}")
    assert page.locator("#listing tbody tr").count() >= 1
    shoot(page, "read-log")
    page.context.close()


def test_a_new_reports_csv_holds_the_rows_on_screen(chromium: object, scene: Scene) -> None:
    page = signed_in(chromium, scene, "auditor")
    page.goto(f"/reports/duties-overdue?unit_id={scene.sub_branch}")
    on_screen = page.locator("#listing tbody tr td:first-child").all_inner_texts()
    # Diamond and never contacted (`overdue` had its visit logged by an earlier test).
    assert scene.moved in on_screen
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    data = Path(download.value.path()).read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["client_id"] for r in rows] == on_screen
    assert list(rows[0])[:3] == ["client_id", "tier", "role"]
    with page.expect_download() as xlsx:
        page.get_by_role("link", name="Excel").click()
    sheet = load_workbook(io.BytesIO(Path(xlsx.value.path()).read_bytes())).active
    assert [r[0] for r in list(sheet.iter_rows(values_only=True))[1:]] == on_screen
    page.context.close()


def test_the_new_pages_fit_a_phone_in_both_languages(chromium: object, scene: Scene) -> None:
    period = f"from={CLIENTS_SINCE.date().isoformat()}"
    pages = {
        "duties-overdue": f"/reports/duties-overdue?unit_id={scene.sub_branch}",
        "leader-visits": f"/reports/leader-visits?unit_id={scene.sub_branch}&min_assets=0",
        "unacknowledged": f"/reports/unacknowledged?unit_id={scene.sub_branch}",
        "segments": f"/reports/segments?unit_id={scene.sub_branch}&by=tier",
        "referrals": f"/reports/referrals?unit_id={scene.sub_branch}&{period}",
        "referral-tree": f"/reports/referral-tree?client_id={scene.overdue}",
        "complaints": f"/reports/complaints?unit_id={scene.sub_branch}&{period}",
        "funnel": f"/reports/funnel?unit_id={scene.sub_branch}&{period}",
        "erasable": f"/privacy/erasable?unit_id={scene.sub_branch}",
        "erasure": f"/clients/{scene.lost}/erasure",
        "reports-index": "/reports",
    }
    for locale, suffix in (("zh-CN", ""), ("en-GB", "-en")):
        page = signed_in(chromium, scene, "admin", locale=locale)
        for name, path in pages.items():
            page.goto(path)
            assert page.locator("h1").count() == 1, path
            if name == "complaints":
                assert COMPLAINT in page.locator("#listing").inner_text()
            shoot(page, f"{name}{suffix}")
        page.context.close()
    manager = signed_in(chromium, scene, "manager")
    manager.goto(f"/reports/unacknowledged?unit_id={scene.outlet}")
    buttons = manager.locator("#listing form button[type=submit]")
    before = buttons.count()
    assert before >= 1
    shoot(manager, "unacknowledged-manager")
    buttons.first.click()
    manager.wait_for_url("**/reports/unacknowledged*")
    assert manager.locator("#listing form button[type=submit]").count() == before - 1
    manager.context.close()
