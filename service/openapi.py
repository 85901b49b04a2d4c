"""The shared parts of the OpenAPI 3.1 document of /api/v1: the component schemas (records' built from
records.py's Fields, the ones records.clean_record checks), the error shape and the document's frame.

The paths are not here: each operation is declared beside its view (service/api/operations.py), and
the document served at GET /api/v1/openapi.json is assembled from those declarations and these
components (service.api.document). tests/test_openapi.py checks every response the tests see against it.
"""
from __future__ import annotations

from .engine import REVIEW_LOWER
from .records import COOPERATION_FIELDS, DEMAND_FIELDS, DESCRIPTION_MIN, INDUSTRY_CLUSTERS, SUPPLY_FIELDS, Field
from .permissions import ROLES
from .report_schema import REPORT_SCHEMA
from .sessions import DIRECTIONS, OUTCOMES, TEXT_LIMITS, THEME_KINDS

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
NULLABLE_BOOLEAN = {"type": ["boolean", "null"]}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def field_bounds(field: Field) -> dict:
    """The bounds records.py sets on a field, as JSON Schema keywords for what the API accepts.

    Only input schemas carry them: rows stored before a bound was set are still valid answers.
    """
    if field.kind == "keywords":
        return {"maxItems": field.max_items, "items": {"type": "string", "maxLength": field.max_length}}
    if field.maximum is not None:
        return {"maximum": field.maximum}
    return {"maxLength": field.max_length} if field.max_length else {}


# A text the service keeps: at least one character that is neither white space nor a control character
# (records.clean_record strips those, and a text left empty counts as missing).
FILLED_TEXT = {"type": "string", "pattern": r"[^\s\x00-\x1f\x7f]"}
# Unknown keys are kept as they come (README, 数据格式: 未知的列原样保留), but not nested objects.
UNKNOWN_FIELD = {"not": {"type": "object"}, "description": "未建模的列原样保留（不能是嵌套对象）"}


def field_schema(field: Field, stored: bool) -> dict:
    """One interchange field as stored (a response) or as accepted in a request body."""
    if field.kind == "number":
        schema = dict(NULLABLE_NUMBER) if stored else {"type": ["number", "null"], "minimum": 0}
    elif field.kind == "keywords":
        schema = {"type": "array", "items": {"type": "string"}} if stored else \
            {"type": ["array", "string", "null"], "items": {"type": "string"},
             "description": f"{field.header}：列表，或以顿号、逗号分隔的文本"}
    elif field.choices:
        schema = {"type": ["string", "null"], "enum": [*field.choices, None]}
    elif field.kind == "date" and not stored:  # a blank text is an empty cell, as in the files
        schema = {"type": ["string", "null"], "anyOf": [{"format": "date"}, {"pattern": r"^\s*$"}]}
    else:
        schema = dict(NULLABLE_STRING)
    return {"description": field.header, **schema, **({} if stored else field_bounds(field))}


def limited(schema: dict, name: str) -> dict:
    """A session's, an outcome's or a visit's text field with its sessions.TEXT_LIMITS length."""
    return {**schema, "maxLength": TEXT_LIMITS[name]}


def record_schema(fields: tuple[Field, ...], stored: bool) -> dict:
    """A demand or supply: the interchange fields; stored ones add version and updated_at."""
    properties = {field.key: field_schema(field, stored) for field in fields}
    if stored:
        properties["version"] = {"type": "integer", "minimum": 1, "description": "版本号，修改时须带上"}
        properties["updated_at"] = NULLABLE_STRING
        return {"type": "object", "required": ["id", "title", "description", "version", "keywords"],
                "properties": properties, "additionalProperties": True}
    for field in fields:
        if field.required:
            properties[field.key] = {**FILLED_TEXT, **field_bounds(field), "description": field.header}
    # A posted record's description says enough to match on (records.clean_posted_record).
    properties["description"]["minLength"] = DESCRIPTION_MIN
    # absent or null: numbered by the year of posting (records.id_prefix, store.save_record)
    properties["id"] = {**FILLED_TEXT, "type": ["string", "null"], **field_bounds(fields[0]),
                        "description": "编号；省略时按发布年份顺序编号，如 D2021-001"}
    return {"type": "object", "required": ["title", "description"], "properties": properties,
            "additionalProperties": UNKNOWN_FIELD}


def record_edit_schema(item: str, fields: tuple[Field, ...]) -> dict:
    """PATCH: any of the input fields, with the version the edit is based on."""
    properties = dict(record_schema(fields, stored=False)["properties"])
    properties["version"] = {"type": "integer", "description": "记录的当前版本号；过期则 409"}
    return {"type": "object", "required": ["version"], "properties": properties,
            "additionalProperties": UNKNOWN_FIELD, "description": f"只改所给字段（{item}）"}


def page_of(item: str) -> dict:
    return {"type": "object", "required": ["items", "total", "page", "per_page"],
            "properties": {"items": {"type": "array", "items": ref(item)}, "total": {"type": "integer"},
                           "page": {"type": "integer"}, "per_page": {"type": "integer"}}}


def items_of(item: str, **extra) -> dict:
    return {"type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": ref(item)}, **extra}}


COOPERATION = {field.key: field for field in COOPERATION_FIELDS}

PROPOSAL_SIDE = {"allOf": [{"type": "object", "required": ["withheld"], "properties": {
    "withheld": {"type": "array", "items": {"type": "string"},
                 "description": "对方同意引荐之前不公开的字段：公开字段以外的一切（联系人、预算或价格、导入时带来的其他列），"
                                "其值为 null"}}}]}

REJECTION_NEEDS_REASON = {"if": {"properties": {"status": {"const": "rejected"}}, "required": ["status"]},
                          "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": r"\S"}}}}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z_]*$", "description": "稳定的错误代码"},
                "message": {"type": "string", "description": "中文说明"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "逐字段的错误说明"},
                "problems": {"type": "array", "description": "导入被拒绝时逐行的问题", "items": {
                    "type": "object", "required": ["message"],
                    "properties": {"row": NULLABLE_INTEGER, "field": NULLABLE_STRING, "message": {"type": "string"}}}},
            }}},
    },
    "Demand": record_schema(DEMAND_FIELDS, stored=True),
    "Supply": record_schema(SUPPLY_FIELDS, stored=True),
    "DemandInput": record_schema(DEMAND_FIELDS, stored=False),
    "SupplyInput": record_schema(SUPPLY_FIELDS, stored=False),
    "DemandEdit": record_edit_schema("Demand", DEMAND_FIELDS),
    "SupplyEdit": record_edit_schema("Supply", SUPPLY_FIELDS),
    "DemandReplace": {"allOf": [ref("DemandInput"), {"type": "object", "required": ["version"],
                                                     "properties": {"version": {"type": "integer"}}}]},
    "SupplyReplace": {"allOf": [ref("SupplyInput"), {"type": "object", "required": ["version"],
                                                     "properties": {"version": {"type": "integer"}}}]},
    "DemandPage": page_of("Demand"),
    "SupplyPage": page_of("Supply"),
    "Reasons": {
        "type": "object", "description": "推荐理由：共同术语、集群与合作方式是否一致、各信号得分",
        "properties": {"shared_terms": {"type": "array", "items": {"type": "string"}},
                       "same_cluster": NULLABLE_BOOLEAN, "same_mode": NULLABLE_BOOLEAN,
                       "dense": {"type": "number"}, "lexical": {"type": "number"},
                       "indicators": {
                           "type": "object", "description": "指标满足度：需求提出的每项指标对照成果的同类指标（不影响得分）",
                           "properties": {
                               "satisfaction": {**NULLABLE_NUMBER, "description": "满足项数 ÷ 需求指标项数；需求未提指标时为 null"},
                               "met": {"type": "integer"}, "not_met": {"type": "integer"},
                               "not_stated": {"type": "integer"},
                               "targets": {"type": "array", "items": {"type": "object", "properties": {
                                   "indicator": {"type": "string"}, "comparator": {"type": "string"},
                                   "unit": {"type": "string"},
                                   "verdict": {"enum": ["met", "not_met", "not_stated"]},
                                   "line": {"type": "string", "description": "如：需求：滚阻系数 ≤ 5 N/kN ← 成果：4.6 N/kN ✓"}}}},
                           }}},
    },
    "Proposal": {
        "type": "object",
        "required": ["id", "demand_id", "supply_id", "score", "status", "status_name", "reasons", "introduction",
                     "demand", "supply"],
        "properties": {
            "id": {"type": ["integer", "null"], "description": "尚未保存的检索结果为 null"},
            "demand_id": {"type": "string"}, "supply_id": {"type": "string"},
            "score": {"type": "number"}, "dense": NULLABLE_NUMBER, "lexical": NULLABLE_NUMBER,
            "rank": NULLABLE_INTEGER, "reasons": ref("Reasons"),
            "status": {"enum": ["proposed", "unsure", "recommended", "rejected", "confirmed", "declined"]},
            "status_name": {"type": "string"}, "generated_at": NULLABLE_STRING, "decided_by": NULLABLE_STRING,
            "decided_at": NULLABLE_STRING, "decision_note": NULLABLE_STRING,
            "introduction": {"type": "object", "required": ["enterprise_agreed", "platform_agreed"],
                             "properties": {"enterprise_agreed": {"type": "boolean"},
                                            "platform_agreed": {"type": "boolean"}}},
            "demand": {"allOf": [ref("Demand"), PROPOSAL_SIDE]},
            "supply": {"allOf": [ref("Supply"), PROPOSAL_SIDE]},
        },
    },
    "ProposalPage": {"allOf": [page_of("Proposal"), {"type": "object", "required": ["thresholds"], "properties": {
        "thresholds": {"type": "object", "required": ["upper", "lower"],
                       "properties": {"upper": {"type": "number"}, "lower": {"type": "number"}}}}}]},
    "ProposalList": items_of("Proposal"),
    "Decision": {
        "type": "object", "required": ["id", "proposal_id", "demand_id", "supply_id", "to_status", "actor", "at"],
        "properties": {"id": {"type": "integer"}, "proposal_id": {"type": "integer"},
                       "demand_id": {"type": "string"}, "supply_id": {"type": "string"},
                       "action": {"enum": ["decide", "undo"]}, "from_status": NULLABLE_STRING,
                       "to_status": {"type": "string"}, "from_status_name": NULLABLE_STRING,
                       "to_status_name": {"type": "string"}, "actor": {"type": "string"},
                       "at": {"type": "string"}, "reason": NULLABLE_STRING, "undone_at": NULLABLE_STRING},
    },
    "DecisionList": items_of("Decision"),
    "BulkResult": {"type": "object", "required": ["decided", "skipped"], "properties": {
        "decided": {"type": "array", "items": {"type": "integer"}},
        "skipped": {"type": "array", "items": {"type": "object", "required": ["id", "code", "message"], "properties": {
            "id": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"}}}}}},
    "ConfirmInput": {"type": "object", "required": ["mode", "amount_wan"], "properties": {
        "mode": {**FILLED_TEXT, **field_bounds(COOPERATION["mode"])},
        "amount_wan": {"type": "number", "minimum": 0, **field_bounds(COOPERATION["amount_wan"])},
        "confirmed_at": {"type": ["string", "null"], "format": "date", "description": "默认今天"},
        "note": {**NULLABLE_STRING, **field_bounds(COOPERATION["note"])}}},
    "Cooperation": {
        "type": "object", "required": ["id", "demand_id", "supply_id"],
        "properties": {"id": {"type": "integer"}, "demand_id": {"type": "string"}, "supply_id": {"type": "string"},
                       "confirmed_at": NULLABLE_STRING, "mode": NULLABLE_STRING, "amount_wan": NULLABLE_NUMBER,
                       "broker": NULLABLE_STRING, "note": NULLABLE_STRING, "proposal_id": NULLABLE_INTEGER,
                       "demand_title": {"type": "string"}, "supply_title": {"type": "string"},
                       "enterprise": NULLABLE_STRING, "platform": NULLABLE_STRING,
                       "industry_cluster": NULLABLE_STRING, "region": NULLABLE_STRING,
                       "session_id": {"type": ["integer", "null"], "description": "促成合作的专题对接会"}},
    },
    "CooperationPage": page_of("Cooperation"),
    "Gap": {"type": "object", "required": ["demand_id", "best_score"], "properties": {
        "demand_id": {"type": "string"}, "title": {"type": "string"}, "industry_cluster": NULLABLE_STRING,
        "best_score": {"type": "number"}, "best_supply_id": NULLABLE_STRING,
        "gap_probability": {"type": "number", "description": "缺口模型给出的缺口概率"}}},
    "GapList": items_of("Gap", threshold={"type": ["number", "null"],
                                          "description": "null：由缺口模型判定；给出 min_score 时为该值（最佳匹配分低于它即为缺口）"}),
    "Summary": {"type": "object", "required": ["demands", "open_demands", "supplies", "cooperations",
                                               "matched_demands", "match_rate", "proposals"],
                "properties": {"demands": {"type": "integer"}, "open_demands": {"type": "integer"},
                               "supplies": {"type": "integer"}, "cooperations": {"type": "integer"},
                               "matched_demands": {"type": "integer"}, "matched_supplies": {"type": "integer"},
                               "match_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                                              "description": "有合作的需求 / 需求总数；尚无需求时为 null"},
                               "proposals": {"type": "object", "additionalProperties": {"type": "integer"},
                                             "description": "各状态的推荐数"}}},
    "OpenAPI": {"type": "object", "description": "OpenAPI 文档"},
    "MonthlyReport": {**REPORT_SCHEMA, "description": "月度匹配报告；各指标口径见 definitions 与 README 的“报告”一节"},
    "AuditEntry": {"type": "object", "required": ["id", "at", "actor", "action", "entity", "entity_id"],
                   "properties": {"id": {"type": "integer"}, "at": {"type": "string"}, "actor": {"type": "string"},
                                  "action": {"type": "string"}, "entity": {"type": "string"},
                                  "entity_id": {"type": "string"},
                                  "before": {"type": ["object", "null"]}, "after": {"type": ["object", "null"]}}},
    "AuditList": items_of("AuditEntry"),
    "User": {"type": "object", "required": ["id", "name", "role"], "additionalProperties": False,
             "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                            "role": {"enum": list(ROLES)},
                            "org": NULLABLE_STRING, "created_at": NULLABLE_STRING,
                            "disabled_at": {"type": ["string", "null"], "description": "停用时间；正常账号为 null"}}},
    "UserList": items_of("User"),
    "NewUser": {"type": "object", "required": ["user", "token"], "properties": {
        "user": ref("User"), "password": NULLABLE_STRING,
        "token": {"type": "string", "description": "API 令牌，只显示这一次"}}},
    "PasswordReset": {"type": "object", "required": ["user", "password"], "properties": {
        "user": ref("User"), "password": {"type": ["string", "null"], "description": "自动生成的新密码，只显示这一次"}}},
    "NewToken": {"type": "object", "required": ["user", "token"], "properties": {
        "user": ref("User"), "token": {"type": "string", "description": "API 令牌，只显示这一次"}}},
    "ImportResult": {"type": "object", "required": ["kind", "imported"], "properties": {
        "kind": {"enum": ["demands", "supplies", "cooperations"]}, "imported": {"type": "integer"}}},
    "Queued": {"type": "object", "required": ["status"], "properties": {
        "status": {"const": "queued"}, "message": {"type": "string"}}},
    "System": {"type": "object", "required": ["embedder", "index"], "properties": {
        "embedder": {"type": "object", "required": ["model_id", "precision", "chosen_by", "cpu", "cpu_features"],
                     "properties": {"model_id": {"type": "string"}, "precision": {"enum": ["fp32", "int8"]},
                                    "chosen_by": {"type": "string"}, "check": {"type": "string"},
                                    "threads": {"type": ["integer", "null"]}, "cpu": {"type": "string"},
                                    "cpu_features": {"type": "array", "items": {"type": "string"}},
                                    "onnxruntime": {"type": "string"}}},
        "index": {"enum": ["idle", "queued", "running"]}}},
    # Themed matchmaking sessions (专题对接) and visits (双走进): service/sessions.py.
    "SessionPair": {
        "type": "object", "required": ["id", "session_id", "demand_id", "supply_id", "position", "score", "reasons",
                                       "outcome", "outcome_name"],
        "properties": {"id": {"type": "integer"}, "session_id": {"type": "integer"},
                       "demand_id": {"type": "string"}, "supply_id": {"type": "string"},
                       "position": {"type": "integer"}, "score": NULLABLE_NUMBER, "reasons": ref("Reasons"),
                       "outcome": {"enum": [*OUTCOMES, None]},
                       "outcome_name": {"enum": ["有意向", "无意向", "需跟进", None]},
                       "outcome_note": NULLABLE_STRING, "outcome_by": NULLABLE_STRING, "outcome_at": NULLABLE_STRING,
                       "demand_title": {"type": "string"}, "supply_title": {"type": "string"},
                       "enterprise": NULLABLE_STRING, "platform": NULLABLE_STRING, "region": NULLABLE_STRING,
                       "industry_cluster": NULLABLE_STRING,
                       "cooperation_id": {"type": ["integer", "null"], "description": "该配对已确认的合作"}},
    },
    "SessionSummary": {
        "type": "object", "required": ["id", "title", "theme_kind", "theme", "held_on", "pair_count",
                                       "cooperation_count"],
        "properties": {"id": {"type": "integer"}, "title": {"type": "string"},
                       "theme_kind": {"enum": list(THEME_KINDS)},
                       "theme": {"type": "string"}, "held_on": {"type": "string", "format": "date"},
                       "per_party_limit": {"type": "integer"}, "note": NULLABLE_STRING,
                       "created_by": NULLABLE_STRING, "created_at": NULLABLE_STRING,
                       "pair_count": {"type": "integer"}, "cooperation_count": {"type": "integer"}},
    },
    "Session": {"allOf": [ref("SessionSummary"), {"type": "object", "required": ["pairs", "theme_kind_name"],
                                                  "properties": {"theme_kind_name": {"type": "string"},
                                                                 "pairs": {"type": "array",
                                                                           "items": ref("SessionPair")}}}]},
    "SessionList": items_of("SessionSummary"),
    "SessionInput": {"type": "object", "required": ["theme_kind", "theme", "held_on"],
                     "if": {"properties": {"theme_kind": {"const": "cluster"}}},
                     "then": {"properties": {"theme": {"enum": list(INDUSTRY_CLUSTERS)}}}, "properties": {
        "title": {**limited(NULLABLE_STRING, "title"), "description": "省略时为「主题 + 专题对接会」"},
        "theme_kind": {"enum": list(THEME_KINDS),
                       "description": "主题类型：产业集群、产业链、区市、平台"},
        "theme": {**limited(FILLED_TEXT, "theme"), "description": "产业集群（七大集群之一）、产业链、区市或平台名称"},
        "held_on": {"type": "string", "format": "date"},
        "per_party_limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 20,
                            "description": "每家企业、每个平台在议程中最多出现的次数，默认 3"},
        "size": {"type": ["integer", "null"], "minimum": 1, "maximum": 100, "description": "议程最多配对数，默认 20"},
        "min_score": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                      "description": f"入选议程的最低匹配分，默认 {REVIEW_LOWER:.2f}（审核队列的下阈值）"},
        "note": NULLABLE_STRING}},
    "PairInput": {"type": "object", "required": ["demand_id", "supply_id"], "description": "两个编号都须已存在",
                  "properties": {
        "demand_id": {"type": "string"}, "supply_id": {"type": "string"}}},
    "OrderInput": {"type": "object", "required": ["pair_ids"], "properties": {
        "pair_ids": {"type": "array", "items": {"type": "integer"}, "description": "议程中全部配对编号的新顺序"}}},
    "OutcomeInput": {"type": "object", "required": ["outcome"], "properties": {
        "outcome": {"enum": list(OUTCOMES),
                    "description": "有意向、无意向、需跟进"}, "note": limited(NULLABLE_STRING, "note")}},
    "VisitSummary": {
        "type": "object", "required": ["id", "direction", "enterprise", "partner", "visited_on", "demand_count"],
        "properties": {"id": {"type": "integer"}, "direction": {"enum": list(DIRECTIONS)},
                       "enterprise": {"type": "string"}, "partner": {"type": "string", "description": "平台或经纪人"},
                       "visited_on": {"type": "string", "format": "date"}, "region": NULLABLE_STRING,
                       "industry_cluster": NULLABLE_STRING, "notes": NULLABLE_STRING,
                       "created_by": NULLABLE_STRING, "created_at": NULLABLE_STRING,
                       "demand_count": {"type": "integer"}},
    },
    "Visit": {"allOf": [ref("VisitSummary"), {"type": "object", "required": ["direction_name", "headline", "demands"],
                                              "properties": {"direction_name": {"type": "string"},
                                                             "headline": {"type": "string",
                                                                          "description": "谁走进谁，如「企业 走进平台 平台」"},
                                                             "demands": {"type": "array",
                                                                         "items": {"allOf": [ref("Demand"), PROPOSAL_SIDE]}}}}]},
    "VisitList": items_of("VisitSummary"),
    "VisitInput": {"type": "object", "required": ["enterprise", "visited_on"], "properties": {
        "direction": {"enum": [*DIRECTIONS, None], "description": "走进企业（默认）或走进平台"},
        "enterprise": limited(FILLED_TEXT, "enterprise"), "visited_on": {"type": "string", "format": "date"},
        "partner": {**limited(NULLABLE_STRING, "partner"), "description": "走访的平台或经纪人；平台账号为本单位，经纪人默认本人"},
        "region": limited(NULLABLE_STRING, "region"), "industry_cluster": {"enum": [*INDUSTRY_CLUSTERS, "", None]},
        "notes": limited(NULLABLE_STRING, "notes")}},
}

ERROR_TEXT = {400: "请求参数有误", 401: "未登录或令牌无效", 403: "无权执行", 404: "不存在或无权查看",
              409: "与当前状态冲突", 413: "内容过大", 422: "提交的内容有误", 429: "尝试次数过多，请稍后再试", 500: "服务器内部错误（不是输入的问题）"}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def assemble(paths: dict, body_schemas: dict) -> dict:
    """The whole document around `paths` and the body models' schemas (service/api/operations.py derives
    both from the routes' declarations)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "两清单对接服务 API", "version": "1.0.0",
                 "description": "技术需求 × 科技成果 智能匹配与技术经纪人审核。错误统一为 "
                                "{\"error\": {\"code\", \"message\", \"fields\"}}。"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, **body_schemas},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "matchmaker user add 给出的 API 令牌"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "页面登录的会话；写操作须带 X-CSRF-Token 头"},
            },
        },
    }
