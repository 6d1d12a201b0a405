"""The console's message catalogue: every label in Chinese and English, the domain's terms
as DOMAIN.md writes them. Templates call `_("key")`; no label is written in a template."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh", "en")
DEFAULT = "zh"

# key: (中文, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # ---- frame ----
    "app.title": ("客户关系台账", "Client relationship ledger"),
    "nav.home": ("首页", "Home"),
    "nav.find": ("查找客户", "Find a client"),
    "nav.roster": ("客户名册", "Roster"),
    "nav.cases": ("流失责任追究", "Churn accountability"),
    "nav.tallies": ("人员责任统计", "Staff tallies"),
    "nav.integrity": ("完整性校验", "Integrity"),
    "nav.reports": ("报表", "Reports"),
    "nav.register": ("登记客户", "Register a client"),
    "nav.signout": ("退出", "Sign out"),
    "nav.audit_log": ("审计日志", "Audit log"),
    "nav.privacy": ("个人信息删除", "Erasure"),
    "lang.switch": ("English", "中文"),
    "signed_in_as": ("当前身份", "Signed in as"),
    # ---- roles ----
    "role.admin": ("管理员", "Administrator"),
    "role.manager": ("客户经理", "Client manager"),
    "role.auditor": ("审计", "Auditor"),
    "role.compliance": ("合规", "Compliance"),
    # ---- staff roles and team roles ----
    "staff.president": ("行长", "President"),
    "staff.vice_president": ("分管行长", "Vice president in charge"),
    "staff.outlet_director": ("网点主任", "Outlet director"),
    "staff.client_manager": ("管户经理", "Designated client manager"),
    "staff.wealth_manager": ("理财经理", "Wealth manager"),
    "staff.lobby_manager": ("大堂经理", "Lobby manager"),
    "staff.teller": ("柜员", "Teller"),
    # ---- unit kinds ----
    "kind.branch": ("分行", "Branch"),
    "kind.department": ("营业部", "Business department"),
    "kind.sub_branch": ("支行", "Sub-branch"),
    "kind.outlet": ("网点", "Outlet"),
    # ---- tiers, status ----
    "tier.standard": ("普通客户", "Standard"),
    "tier.gold": ("金卡", "Gold"),
    "tier.platinum": ("白金卡", "Platinum"),
    "tier.diamond": ("钻石卡", "Diamond"),
    "tier.vip": ("贵宾客户合计", "VIP total"),
    "status.active": ("有效", "Active"),
    "status.churned": ("已流失", "Churned"),
    # ---- channels, churn kinds, outcomes ----
    "channel.visit": ("上门拜访", "Visit"),
    "channel.phone": ("电话", "Phone"),
    "channel.sms": ("短信", "SMS"),
    "channel.letter": ("信函", "Letter"),
    "channel.event": ("客户活动", "Client event"),
    "channel.wechat": ("微信", "WeChat"),
    "churn.normal": ("正常流失", "Normal churn"),
    "churn.abnormal": ("非正常流失", "Abnormal churn"),
    "outcome.confirmed": ("确认追责", "Confirmed"),
    "outcome.waived": ("免于追责", "Waived"),
    "source.media": ("媒体", "Media"),
    "source.organisation": ("机构", "Organisation"),
    "source.personal_network": ("人脉", "Personal network"),
    "source.referral": ("客户转介", "Referral"),
    # ---- event types ----
    "event.Registered": ("客户登记", "Registered"),
    "event.ProfileUpdated": ("档案更新", "Profile updated"),
    "event.AssetsReported": ("资产申报", "Assets reported"),
    "event.TierChanged": ("等级变更", "Tier changed"),
    "event.Assigned": ("分配", "Assigned"),
    "event.ContactLogged": ("联系记录", "Contact logged"),
    "event.Churned": ("客户流失", "Churned"),
    "event.Reactivated": ("客户挽回", "Won back"),
    "event.EventRetracted": ("撤销", "Retraction"),
    "event.ChurnDetermined": ("责任认定", "Determination"),
    # ---- fields ----
    "f.client_id": ("客户号", "Client id"),
    "f.name": ("姓名", "Name"),
    "f.unit_id": ("所属机构", "Unit"),
    "f.tier": ("客户等级", "Tier"),
    "f.status": ("状态", "Status"),
    "f.designated_manager": ("管户经理", "Designated manager"),
    "f.team": ("维护团队", "Maintenance team"),
    "f.profile": ("客户档案", "Profile"),
    "f.assets": ("年日均金融资产", "Average daily financial assets"),
    "f.assets_as_of": ("资产日期", "Assets as of"),
    "f.last_contact_at": ("最近联系", "Last contact"),
    "f.days_overdue": ("逾期天数", "Days overdue"),
    "f.former_manager": ("原管户经理", "Former manager"),
    "f.since": ("离职时间", "Since"),
    "f.address": ("地址", "Address"),
    "f.phone": ("电话", "Phone"),
    "f.employer": ("工作单位", "Employer"),
    "f.risk_appetite": ("风险偏好", "Risk appetite"),
    "f.business_interests": ("业务兴趣", "Business interests"),
    "f.product_horizon": ("产品期限偏好", "Product horizon"),
    "f.personality": ("性格", "Personality"),
    "f.hobbies": ("爱好", "Hobbies"),
    "f.specialties": ("特长", "Specialties"),
    "f.channel": ("联系方式", "Channel"),
    "f.staff_id": ("员工号", "Staff id"),
    "f.occurred_at": ("发生时间", "When it happened"),
    "f.effective_at": ("生效时间", "Effective at"),
    "f.recorded_at": ("记录时间", "Recorded at"),
    "f.recorded_by": ("记录人", "Recorded by"),
    "f.purpose": ("目的", "Purpose"),
    "f.summary": ("摘要", "Summary"),
    "f.reason": ("原因", "Reason"),
    "f.kind": ("类型", "Kind"),
    "f.role": ("团队角色", "Team role"),
    "f.source": ("客户来源", "Source"),
    "f.referred_by": ("转介客户", "Referred by"),
    "f.outcome": ("认定结果", "Outcome"),
    "f.event_id": ("事件号", "Event id"),
    "f.type": ("事件", "Event"),
    "f.party": ("追责对象", "Party"),
    "f.version": ("版本", "Version"),
    "f.position": ("日志位置", "Log position"),
    "f.hash": ("哈希", "Hash"),
    "f.data": ("内容", "Data"),
    "f.case_id": ("案件号", "Case id"),
    "f.accountability_tier": ("追责等级", "Accountability tier"),
    "f.in_scope": ("需追责", "In scope"),
    "f.unit_head": ("网点负责人", "Outlet head"),
    "f.prior_holders": ("前任管户经理", "Prior holders"),
    "f.determination": ("认定", "Determination"),
    "f.fiscal_year": ("会计年度", "Fiscal year"),
    "f.as_designated_manager": ("作为管户经理", "As designated manager"),
    "f.as_unit_head": ("作为网点负责人", "As outlet head"),
    "f.as_prior_holder": ("作为前任管户经理", "As prior holder"),
    "f.as_of": ("截至（生效时间）", "As of (effective time)"),
    "f.known_at": ("所知截至（记录时间）", "As known at (recorded time)"),
    "f.from": ("起", "From"),
    "f.to": ("止", "To"),
    "f.start": ("期初", "Start"),
    "f.end": ("期末", "End"),
    "f.change": ("增量", "Change"),
    "f.growth_rate": ("增长率", "Growth rate"),
    "f.share_of_parent": ("占上级增量", "Share of parent's change"),
    "f.ranking": ("排名", "Ranking"),
    "f.vip_active": ("有效贵宾客户", "Active VIP clients"),
    "f.complete": ("信息完整", "Complete"),
    "f.rate": ("完整率", "Rate"),
    "f.target": ("目标", "Target"),
    "f.meets_target": ("达标", "Meets target"),
    "f.assets_change": ("管户资产增量", "Assets change"),
    "f.tree_size": ("默克尔树叶数", "Merkle tree size"),
    "f.root_hash": ("默克尔树根哈希", "Merkle root hash"),
    "f.ok": ("校验结果", "Result"),
    "f.checked": ("已校验事件", "Events checked"),
    "f.first_mismatch": ("首个不符位置", "First mismatch"),
    "f.token": ("API 密钥或管理员令牌", "API key or admin token"),
    "f.query": ("客户号、姓名或电话", "Client id, name or phone"),
    "f.count": ("户数", "Clients"),
    "f.retracted_by": ("撤销于", "Retracted by"),
    "f.action": ("操作", "Action"),
    "f.visited_by_leader": ("领导已走访", "Visited by a leader"),
    "f.last_leader_visit_at": ("最近领导走访", "Last leader visit"),
    "f.min_assets": ("资产下限", "Assets at least"),
    "f.older_than_days": ("超过天数", "Older than (days)"),
    "f.by": ("分组依据", "Group by"),
    "f.clients": ("客户数", "Clients"),
    "f.prospects": ("潜在客户", "Prospects"),
    "f.converted": ("已转化", "Converted"),
    "f.dropped": ("已放弃", "Dropped"),
    "f.conversion_rate": ("转化率", "Conversion rate"),
    "f.depth": ("层级", "Depth"),
    "f.principal": ("访问者", "Principal"),
    "f.path": ("页面或接口", "Page or endpoint"),
    "f.at": ("时间", "At"),
    "f.aggregate_id": ("对象", "Subject"),
    "f.aggregate_type": ("对象类型", "Subject type"),
    "f.effective_from": ("生效起", "Effective from"),
    "f.effective_to": ("生效止", "Effective to"),
    "f.recorded_from": ("记录起", "Recorded from"),
    "f.recorded_to": ("记录止", "Recorded to"),
    "f.late_by_days": ("迟录超过天数", "Recorded late by more than (days)"),
    "f.legal_basis": ("法律依据", "Legal basis"),
    "f.churned_at": ("流失时间", "Churned at"),
    "f.retained_until": ("保存期满", "Retained until"),
    "risk.conservative": ("保守型", "Conservative"),
    "risk.balanced": ("稳健型", "Balanced"),
    "risk.aggressive": ("进取型", "Aggressive"),
    # ---- pages and sections ----
    "page.signin": ("登录", "Sign in"),
    "page.my_day": ("我的工作台", "My day"),
    "page.my_clients": ("我的管户客户", "My clients"),
    "page.overdue": ("逾期未联系客户", "Overdue contacts"),
    "page.orphaned": ("无人管户客户（管户经理已离职）", "Orphaned clients (manager departed)"),
    "page.at_risk": ("风险客户看板（预防胜于追责）", "At-risk board"),
    "page.team_gaps": ("维护团队缺位", "Team gaps"),
    "page.duties_overdue": ("分层维护逾期", "Layered duties overdue"),
    "page.leader_visits": ("领导走访大户", "Leader visits to large clients"),
    "page.unacknowledged": ("未签收的管户分配", "Unacknowledged assignments"),
    "page.segments": ("客户分群", "Segments"),
    "page.referrals": ("转介获客（按管户经理）", "Referrals per manager"),
    "page.referral_tree": ("转介关系树", "Referral tree"),
    "page.complaints": ("客户投诉", "Complaints"),
    "page.funnel": ("潜在客户转化漏斗", "Prospects funnel"),
    "page.audit_desk": ("审计与个人信息", "Audit and personal data"),
    "page.audit_log": ("审计日志", "Audit log"),
    "page.read_log": ("客户信息查阅记录", "Read log"),
    "page.erasable": ("可删除个人信息的客户", "Clients whose data may be erased"),
    "page.erasure": ("删除个人信息", "Erase personal data"),
    "f.reasons": ("风险原因", "Reasons"),
    "f.missing": ("缺位角色", "Missing roles"),
    "reason.contact_overdue": ("逾期未联系", "contact overdue"),
    "reason.team_gap": ("团队缺位", "team gap"),
    "reason.orphaned": ("无人管户", "orphaned"),
    "reason.manager_departed": ("管户经理离职", "manager departed"),
    "reason.assets_down": ("资产下降", "assets down"),
    "reason.downgraded": ("降级", "downgraded"),
    "page.client": ("客户", "Client"),
    "page.timeline": ("事件时间线", "Timeline"),
    "page.last_contacts": ("最近联系", "Last contacts"),
    "page.find": ("查找客户", "Find a client"),
    "page.roster": ("客户名册", "Roster"),
    "page.integrity": ("完整性校验", "Integrity"),
    "page.cases": ("流失责任追究", "Churn accountability"),
    "page.case": ("流失案件", "Churn case"),
    "page.tallies": ("人员责任统计", "Staff tallies"),
    "page.reports": ("报表", "Reports"),
    "page.tier_growth": ("贵宾客户增长", "Tier growth"),
    "page.completeness": ("关键信息完整率", "Key information completeness"),
    "page.portfolio": ("管户业绩", "Manager portfolio"),
    "page.register": ("登记客户", "Register a client"),
    "page.error": ("无法完成", "Could not be done"),
    "page.desk": ("审计工作台", "Auditor's desk"),
    "page.queue": ("合规工作台", "Compliance queue"),
    "page.admin": ("管理员工作台", "Administrator"),
    "page.intervals": ("管户区间", "Holding intervals"),
    "page.determinations": ("认定记录", "Determinations"),
    "page.late_changes": ("迟录变更", "Late changes"),
    "form.log_contact": ("记录联系", "Log a contact"),
    "form.change_tier": ("变更等级", "Change the tier"),
    "form.assign": ("分配团队成员", "Assign"),
    "form.churn": ("登记流失", "Record a churn"),
    "form.determine": ("责任认定", "Record a determination"),
    "form.verify": ("按摘要校验", "Verify against a digest"),
    "form.submit": ("提交", "Submit"),
    "form.show": ("查询", "Show"),
    "form.acknowledge": ("签收", "Acknowledge"),
    "form.erase": ("删除个人信息", "Erase personal data"),
    "form.sign_in": ("登录", "Sign in"),
    # ---- phrases ----
    "msg.empty_ledger": (
        "台账为空。在服务器上运行 `ledger demo` 载入演示分行，然后刷新本页。",
        "The ledger is empty. Run `ledger demo` on the server to load the demo branch, "
        "then reload this page.",
    ),
    "msg.admin_token_where": (
        "管理员令牌：启动时设置的 LEDGER_ADMIN_TOKEN，未设置时在 ./var/admin-token"
        "（`make run` 启动时会打印其路径）。",
        "The admin token: LEDGER_ADMIN_TOKEN as set at start, else the file ./var/admin-token "
        "(`make run` prints its path).",
    ),
    "msg.signin_help": (
        "使用您的 API 密钥登录；密钥仅用于换取会话，不会出现在网址中。",
        "Sign in with your API key; it is exchanged for a session and never shown in a URL.",
    ),
    "msg.bad_token": ("密钥无效或已撤销。", "The key is unknown or revoked."),
    "msg.none": ("无", "None"),
    "msg.never": ("从未", "Never"),
    "msg.yes": ("是", "Yes"),
    "msg.no": ("否", "No"),
    "msg.pending": ("待认定", "Pending"),
    "msg.stale": ("依据已变，需重新认定", "Facts changed since: to be determined again"),
    "msg.whole_case": ("整个案件", "The whole case"),
    "msg.more": ("下一页", "Next page"),
    "msg.download_csv": ("CSV", "CSV"),
    "msg.download_xlsx": ("Excel", "Excel"),
    "msg.copy": ("复制", "Copy"),
    "msg.download_digest": ("下载摘要", "Download the digest"),
    "msg.download_bundle": ("下载离线校验包", "Download the offline bundle"),
    "msg.or_paste_digest": (
        "或粘贴下载的摘要文件内容（JSON）",
        "Or paste a downloaded digest file (JSON)",
    ),
    "msg.download_client_bundle": (
        "下载该客户的离线校验包（含包含证明）",
        "Download this client's bundle (with inclusion proofs)",
    ),
    "msg.current_digest": ("当前摘要", "Current digest"),
    "msg.verify_ok": ("校验通过：历史未被改动。", "Verified: stored history is unchanged."),
    "msg.verify_bad": ("校验失败：历史与摘要不符。", "Mismatch: stored history differs."),
    "msg.retracted": ("已撤销", "Retracted"),
    "msg.not_yet_effective": ("该时点尚未生效", "Not yet effective then"),
    "msg.not_yet_known": ("该时点尚未记录", "Not yet recorded then"),
    "msg.no_results": ("没有匹配的记录。", "Nothing matches."),
    "msg.phone_later": (
        "按电话查找将随盲索引（第 15 号议题）上线；现可按客户号或姓名查找。",
        "Finding by phone comes with the blind index (issue 15); find by id or name for now.",
    ),
    "msg.back": ("返回", "Back"),
    "msg.churn_line": ("流失", "Churn"),
    "msg.lookback": ("回溯期", "Lookback"),
    "msg.chart_vip_change": ("各机构贵宾客户增量", "VIP change per unit"),
    "msg.total": ("合计", "Total"),
    "msg.referred_count": ("转介客户数（含下级）", "Clients referred (all levels)"),
    "msg.duties_overdue": (
        "按客户等级的维护频次，团队各角色超期未联系的客户。",
        "Clients whose team role has not been in contact within its tier's cadence.",
    ),
    "msg.leader_visits": (
        "期末资产达到下限的有效客户，及期间是否有行领导走访。",
        "Active clients with assets at or above the floor at the period's end, and whether "
        "a leader visited them in the period.",
    ),
    "msg.unacknowledged": (
        "管户经理尚未签收的分配（名单制管理）；被分配的经理可在此签收。",
        "Designated-manager assignments not yet signed for; the assignee signs here.",
    ),
    "msg.referrals": (
        "期间经客户转介获得的客户及其资产，按转介人的管户经理汇总。",
        "Clients gained by referral in the period and their assets, per the referrer's "
        "designated manager.",
    ),
    "msg.funnel": (
        "期间发现的潜在客户（按来源），及其中已转化、已放弃的。",
        "Prospects found in the period per source, and of them those converted or dropped.",
    ),
    "msg.audit_log": (
        "所有对象的全部事件，按日志顺序；可按记录人、事件、客户、机构、时间与迟录天数筛选。",
        "Every event of every subject in log order, filtered by recorder, event, client, "
        "unit, times and lateness.",
    ),
    "msg.read_log": (
        "谁在何时、通过哪个页面或接口查阅了客户的个人信息。",
        "Who was shown a client's personal data, where, and when.",
    ),
    "msg.erasable": (
        "已流失且保存期已满、尚未删除个人信息的客户。",
        "Churned clients whose retention period has passed and whose data is not erased yet.",
    ),
    "msg.erasure_warning": (
        "删除后无法恢复：客户的个人信息密钥将被销毁，事件与哈希链保留。",
        "This cannot be undone: the client's personal-data key is destroyed; the events and "
        "the hash chain remain.",
    ),
    "msg.open": ("打开", "Open"),
    "msg.only_scope": (
        "仅显示您所在机构及其下属机构。",
        "Only your unit and the units below it are shown.",
    ),
    "msg.timeline_axes": (
        "生效时间之后或记录时间之后的事件以灰色显示。",
        "Events after the as-of time or recorded after the as-known-at time are greyed.",
    ),
    "msg.error_403": (
        "您的角色或管辖范围不允许此操作。",
        "Your role or scope does not allow this.",
    ),
    "msg.error_404": ("未找到。", "Not found."),
    "msg.error_409": ("与台账现状冲突。", "Conflicts with the ledger's state."),
    "msg.error_422": ("输入有误。", "Invalid input."),
    "msg.error_401": ("请重新登录。", "Please sign in again."),
    "msg.error_503": ("暂时无法访问存储，请稍后再试。", "The store is unavailable; retry shortly."),
    "msg.error_500": ("服务器内部错误。", "An unexpected error occurred."),
    "msg.session_expired": ("会话已过期，请重新登录。", "Your session expired; sign in again."),
}


def translator(lang: str) -> Callable[[str], str]:
    index = LANGUAGES.index(lang) if lang in LANGUAGES else 0

    def translate(key: str) -> str:
        entry = MESSAGES.get(key)
        return entry[index] if entry is not None else key

    return translate


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if set, else the first of ours the browser prefers, else zh."""
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    ranked: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((quality, tag.strip().lower().split("-")[0]))
    for _, tag in sorted(ranked, key=lambda r: -r[0]):
        if tag in LANGUAGES:
            return tag
    return DEFAULT
