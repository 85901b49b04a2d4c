"""One declaration per API operation, beside its view: the OpenAPI document's paths and the request
checks are both read from it, so the two cannot drift apart (written apart, 13 operations did).

    @bp.get("")
    @login_required
    @operation("合作列表", {200: "CooperationPage"}, query=CooperationQuery, tag="cooperations")
    def index(query): ...

`query` is a pydantic model: the view gets it checked (an empty value counts as not given, as the
document's allowEmptyValue says; a refusal is a 400 naming the parameter) and the document gets its
fields as parameters. `body` is either a pydantic model, which is then both the component schema
and the check (a 422 naming each field at fault), or the name of a component of service/openapi.py
whose fields the domain checks for the pages and the API alike: records by records.clean_record
from the Fields the component is built from, sessions and visits by sessions.py. Either way the view
gets the body only if it is a JSON object (400 otherwise). Path parameters come from the route's
converters. `describe` walks the app's url_map, so a route without a declaration is found
(tests/test_openapi.py) rather than left out.

Why pydantic rather than marshmallow + apispec (+ webargs, as flask-smorest bundles them): pydantic
is installed already (openapi-spec-validator needs it), one class gives both the JSON Schema and the
check, with strict JSON types; the other is three new packages for the same. Its cost is in
BENCHMARKS.md ("API request validation").
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Annotated, Optional

from flask import request
from pydantic import BaseModel, Field, ValidationError

from ..openapi import ERROR_TEXT, json_content, ref
from ..reports import MONTH_IN_RANGE
from .base import ApiError, json_body

PREFIX = "/api/v1"
FILE = "File"  # a multipart upload (field `file`) rather than a JSON body
# OpenAPI's {name} for Flask's <converter:name>; int converters are integers.
RULE_ARGUMENT = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")

Month = Optional[Annotated[str, Field(pattern=MONTH_IN_RANGE)]]


class Paged(BaseModel):
    page: int = Field(1, ge=1, le=10_000, description="页码（从 1 开始，最多 10000）")
    per_page: int = Field(20, ge=1, le=200, description="每页条数（最多 200）")


def text(description: str):
    """An optional text filter."""
    return Field(None, description=description)


def month():
    return Field(None, description="月份 YYYY-MM（1900-01 至 9999-12）")


def absent_or(**constraints):
    """A body field that may be left out but not sent as null (its schema gets no `default: null`)."""
    return Field(None, json_schema_extra=lambda schema: schema.pop("default", None), **constraints)


@dataclass(frozen=True)
class Operation:
    """What a view declares: `document()` is its OpenAPI operation, `read_query` and `read_body` its checks."""
    summary: str
    ok: dict[int, str | None]  # success status → response component (None: no content)
    errors: tuple[int, ...] = ()
    query: type[BaseModel] | None = None
    body: type[BaseModel] | str | None = None  # a model, or the name of a component checked by the domain
    tag: str | None = None
    public: bool = False
    path: dict[str, dict] = field(default_factory=dict)  # path parameter schemas the converters do not say

    def read_query(self) -> BaseModel:
        given = {name: value for name, value in request.args.items() if value != ""}
        try:
            return self.query.model_validate(given)
        except ValidationError as error:
            raise refusal(self.query, error.errors(include_url=False)[0]) from None

    def read_body(self) -> dict | BaseModel:
        body = json_body()
        if not isinstance(self.body, type):
            return body
        try:  # JSON's own types, as the schema has them: no "5" for 5, dates as ISO text
            return self.body.model_validate_json(request.get_data(), strict=True)
        except ValidationError as error:
            raise body_refusal(error) from None

    def body_name(self) -> str | None:
        return self.body.__name__ if isinstance(self.body, type) else self.body

    def document(self) -> dict:
        statuses = {*self.errors, 500}
        if self.query or self.body:
            statuses.add(400)
        if not self.public:
            statuses.add(401)
        responses = {str(status): {"description": "成功" if schema else "无内容",
                                   **({"content": json_content(ref(schema))} if schema else {})}
                     for status, schema in self.ok.items()}
        responses.update({str(status): {"description": ERROR_TEXT[status], "content": json_content(ref("Error"))}
                          for status in sorted(statuses)})
        op = {"summary": self.summary, "responses": responses,
              "parameters": query_parameters(self.query) if self.query else []}
        if self.tag:
            op["tags"] = [self.tag]
        if self.body == FILE:
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"], "properties": {"file": {
                    "type": "string", "format": "binary", "description": "文件名以 .jsonl、.csv 或 .xlsx 结尾"}}}}}}
        elif self.body:
            op["requestBody"] = {"required": True, "content": json_content(ref(self.body_name()))}
        if self.public:
            op["security"] = []
        return op


def operation(summary: str, ok: dict[int, str | None], errors: tuple[int, ...] = (), **declared):
    """Declare the view's operation; the view receives `query=` and `body=` when they are declared."""
    declaration = Operation(summary, ok, errors, **declared)

    def decorator(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if declaration.query:
                kwargs["query"] = declaration.read_query()
            if declaration.body and declaration.body != FILE:
                kwargs["body"] = declaration.read_body()
            return view(*args, **kwargs)
        checked.operation = declaration
        return checked
    return decorator


def declaration(view) -> Operation | None:
    """The Operation a view (or a view wrapped by login_required and the like) was declared with."""
    while view is not None:
        if hasattr(view, "operation"):
            return view.operation
        view = getattr(view, "__wrapped__", None)
    return None


@functools.cache
def parameter_schemas(model: type[BaseModel]) -> dict[str, dict]:
    """Each field's JSON Schema as a query parameter: never null (an empty value is not given)."""
    schemas = {}  # cached: pydantic builds a model's JSON Schema in about a millisecond
    for name, schema in model.model_json_schema()["properties"].items():
        schema = dict(schema)
        schema.pop("title", None)
        for choice in schema.pop("anyOf", []):
            if choice != {"type": "null"}:
                schema.update(choice)
        if schema.get("default") is None:
            schema.pop("default", None)
        schemas[name] = schema
    return schemas


def query_parameters(model: type[BaseModel]) -> list[dict]:
    required = {name for name, declared in model.model_fields.items() if declared.is_required()}
    parameters = []
    for name, schema in parameter_schemas(model).items():
        schema = dict(schema)
        description = schema.pop("description", "")
        parameters.append({"name": name, "in": "query", "required": name in required,
                           **({} if name in required else {"allowEmptyValue": True}),
                           "description": description, "schema": schema})
    return parameters


def refusal(model: type[BaseModel], problem: dict) -> ApiError:
    """pydantic's first complaint about a query as the API's 400, in Chinese, naming the parameter."""
    name = str(problem["loc"][0]) if problem["loc"] else "?"
    if problem["type"] == "extra_forbidden":
        return ApiError(400, "invalid_parameter", f"{model.__doc__}不支持筛选条件 {name}", {name: "不支持的筛选条件"})
    schema = parameter_schemas(model)[name]
    low, high = schema.get("minimum"), schema.get("maximum")
    if problem["type"] == "missing":
        message, fault = f"必填：{schema.get('description', '')}", "必填"
    elif problem["type"] == "value_error":  # a model's own check, raised with its Chinese message
        message = fault = str(problem["ctx"]["error"])
    elif "enum" in schema:
        message, fault = f"应为 {'、'.join(map(str, schema['enum']))} 之一", "取值不在允许范围内"
    elif schema.get("type") == "integer":
        message = fault = "应为整数" if problem["type"] == "int_parsing" else f"应在 {low}–{high} 之间"
    elif schema.get("type") == "number":
        message = fault = f"应为 {low:g}–{high:g} 之间的数字"
    else:  # the one pattern is a month's
        message, fault = "应为 1900-01 至 9999-12 之间的 YYYY-MM，如 2021-03", "应为 YYYY-MM"
    return ApiError(400, "invalid_parameter", f"参数 {name} {message}", {name: fault})


def body_refusal(error: ValidationError) -> ApiError:
    """pydantic's complaints about a body as the API's 422: one Chinese message per field at fault."""
    fields = {}
    for problem in error.errors(include_url=False):
        name = str(problem["loc"][0]) if problem["loc"] else "body"
        inner = ".".join(map(str, problem["loc"][1:]))
        fields.setdefault(name, f"{inner}：{fault(problem)}" if inner else fault(problem))
    return ApiError(422, "invalid_input", "提交的内容有误，请按提示修改", fields)


def fault(problem: dict) -> str:
    kind, context = problem["type"], problem.get("ctx", {})
    if kind == "value_error":  # a model's own rule, raised with its Chinese message
        return str(context.get("error", problem["msg"]))
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", context.get("expected", ""))
        return f"应为 {'、'.join(choices)} 之一"
    if kind == "string_pattern_mismatch":  # the patterns ask for a visible character
        return "不能为空"
    if kind in ("string_too_short", "string_too_long"):
        limit = context.get("min_length", context.get("max_length"))
        return "必填" if kind == "string_too_short" and limit == 1 else \
            f"{'至少' if kind == 'string_too_short' else '最多'} {limit} 个字符"
    if kind == "too_long":
        return f"最多 {context.get('max_length')} 项"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"应{'不小于' if kind == 'greater_than_equal' else '不大于'} {context.get('ge', context.get('le'))}"
    return FAULTS.get(kind.split("_")[0], "格式有误")


# The rest by the type pydantic expected: "int_type" and "int_from_float" → int.
FAULTS = {"missing": "必填", "string": "应为文本", "int": "应为整数", "float": "应为数字", "bool": "应为 true 或 false",
          "list": "应为列表", "dict": "应为对象", "model": "应为对象", "date": "应为日期 YYYY-MM-DD"}


def template(rule: str) -> str:
    """/api/v1/demands/<record_id> → /demands/{record_id}"""
    return RULE_ARGUMENT.sub(r"{\2}", rule)[len(PREFIX):]


def path_parameters(rule: str, declared: Operation) -> list[dict]:
    return [{"name": name, "in": "path", "required": True,
             "schema": declared.path.get(name) or ({"type": "integer"} if converter == "int" else {"type": "string"})}
            for converter, name in RULE_ARGUMENT.findall(rule)]


def routes(url_map, view_functions):
    """(rule, method, view) for every route under /api/v1."""
    for rule in url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method.lower(), view_functions[rule.endpoint]


def describe(url_map, view_functions) -> tuple[dict, dict]:
    """The document's `paths` from the routes' declarations, and the component schemas of their body
    models; undeclared routes are left to `undeclared`."""
    found: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for rule, method, view in routes(url_map, view_functions):
        declared = declaration(view)
        if declared is None:
            continue
        item = found.setdefault(template(rule.rule), {})
        parameters = path_parameters(rule.rule, declared)
        if parameters:
            item["parameters"] = parameters
        item[method] = declared.document()
        if isinstance(declared.body, type):
            schema = declared.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[declared.body.__name__] = schema
    return dict(sorted(found.items())), schemas


def undeclared(url_map, view_functions) -> list[str]:
    return [f"{method.upper()} {rule.rule}" for rule, method, view in routes(url_map, view_functions)
            if declaration(view) is None]
