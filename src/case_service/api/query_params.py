"""Query parameters declared as one pydantic model and read in one validation.

The list routes take nineteen query parameters. Declared one by one as FastAPI `Query` parameters,
FastAPI 0.165 inspects each one's type and validates it on its own on every request; a FastAPI
query-parameter model is extracted field by field the same way. With the caller and the page as
dependencies, that was a quarter of a list page's instructions, and one validation of the same
model costs a few µs (bench/PROFILE.md §23). `read_query` reads a `QueryModel` as FastAPI reads
`Query` parameters, and `query_parameters` documents it as FastAPI documents them, for the route's
`openapi_extra`.
"""

from __future__ import annotations

from functools import cache
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

REF_TEMPLATE = "#/components/schemas/{model}"


class QueryModel(BaseModel):
    """A route's query parameters: each field is one, named by its alias (`in`) or its name."""

    model_config = ConfigDict(extra="ignore", frozen=True)


Q = TypeVar("Q", bound=QueryModel)


def read_query(request: Request, model: type[Q]) -> Q:
    """The model from the request's query string, read as FastAPI reads `Query` parameters: every
    value of a list parameter, the last value of any other, the default for one absent; an invalid
    value answers 422 with its error located at `query.<name>`, all errors together."""
    names = _names(model)
    params = request.query_params
    values = {name: params.getlist(name) if names[name] else params[name] for name in params if name in names}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def query_parameters(model: type[QueryModel]) -> list[dict[str, Any]]:
    """The model's fields as OpenAPI query parameters, written as FastAPI writes `Query` ones."""
    properties = model.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE)["properties"]
    parameters = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        schema = dict(properties[alias])
        if "default" in schema and schema["default"] is None:
            del schema["default"]  # FastAPI leaves out a default of None
        if "$ref" not in schema:
            schema["title"] = field.title or alias.title().replace("_", " ")
        parameter = {"name": alias, "in": "query", "required": field.is_required(), "schema": schema}
        if field.description:
            parameter["description"] = field.description
        parameters.append(parameter)
    return parameters


def query_definitions(*models: type[QueryModel]) -> dict[str, Any]:
    """The schemas the models' parameters refer to (enums), for the document's components: FastAPI
    collects those of the parameters it reads itself, and never sees these."""
    definitions: dict[str, Any] = {}
    for model in models:
        definitions.update(model.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE).get("$defs", {}))
    return definitions


@cache
def _names(model: type[QueryModel]) -> dict[str, bool]:
    """Each parameter's name, and whether it takes a list (every value sent, not just the last)."""
    return {field.alias or name: _takes_list(field.annotation) for name, field in model.model_fields.items()}


def _takes_list(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return any(get_origin(option) is list for option in options)
