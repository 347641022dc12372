"""Strict JSON request bodies: content type, size cap, duplicate keys, types, unknown fields → clear 4xx."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from typing import Any

from flask import request
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from walletpass.errors import FieldError, InvalidInput, MalformedRequest, PayloadTooLarge


def _is_int(_checker: Any, value: Any) -> bool:
    # JSON Schema counts 1.0 as an integer; a till sending 1.0 points has a bug we want to show.
    return isinstance(value, int) and not isinstance(value, bool)


_TypeChecker = Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int)
StrictValidator = validators.extend(Draft202012Validator, type_checker=_TypeChecker)
_validators: dict[int, Any] = {}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise MalformedRequest(k, f"key {k!r} appears twice in the JSON object")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise MalformedRequest("", f"{name} is not valid JSON")


def _path(err: ValidationError) -> str:
    parts: list[str] = []
    for p in err.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (("." if parts else "") + str(p)))
    return "".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _message(err: ValidationError) -> tuple[str, str]:
    field = _path(err)
    v = err.validator
    if "propertyNames" in err.relative_schema_path:  # the key is what failed: name it, not its object
        field = f"{field}.{err.instance}" if field else str(err.instance)
    if v in {"oneOf", "anyOf"} and "x-detail" not in err.schema and err.context:
        # the alternative of the value's own type (a segment's object, not the list form), then its best error
        fitting = [e for e in err.context if not (e.validator == "type" and not e.relative_path)]
        return _message(best_match(fitting or err.context))
    if v in {"pattern", "oneOf", "anyOf"} and "x-detail" in err.schema:  # the schema's own words (api.schemas)
        return field or err.schema.get("x-field", ""), err.schema["x-detail"].format(value=_short(err.instance))
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        name = f"{field}.{extra[0]}" if field else extra[0]
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        return name, f"unknown field; allowed fields are: {allowed}"
    if v == "required":
        missing = err.message.split("'")[1]
        return (f"{field}.{missing}" if field else missing), "is required"
    if v == "type":
        expected = err.validator_value
        return field, f"must be of type {expected if isinstance(expected, str) else ' or '.join(expected)}"
    if v in {"minLength", "maxLength"}:
        return field, f"length must be {'at least' if v == 'minLength' else 'at most'} {err.validator_value}"
    if v in {"minimum", "maximum"}:
        return field, f"must be {'≥' if v == 'minimum' else '≤'} {err.validator_value}"
    if v == "enum":
        return field, f"must be one of {err.validator_value}"
    if v in {"minItems", "maxItems"}:
        return field, f"must have {'at least' if v == 'minItems' else 'at most'} {err.validator_value} items"
    if v == "not":
        return field, "value not allowed here"
    return field, err.message


def validate(data: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
    """Check *data* against *schema*; raise InvalidInput listing every problem."""
    validator = _validators.get(id(schema))
    if validator is None:
        validator = _validators[id(schema)] = StrictValidator(schema)
    errs = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.validator))
    if errs:
        raise InvalidInput.many([FieldError(*_message(e)) for e in errs])
    return data  # type: ignore[no-any-return]


def json_body(schema: Mapping[str, Any], *, max_bytes: int) -> dict[str, Any]:
    """Parse the request's JSON body strictly and validate it."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge("", f"request body is larger than {max_bytes} bytes")
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise MalformedRequest("", "send the body as JSON with Content-Type: application/json")
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise PayloadTooLarge("", f"request body is larger than {max_bytes} bytes")
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise MalformedRequest("", "the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise MalformedRequest("", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError:  # an integer literal longer than Python converts (4,300 digits)
        raise MalformedRequest("", "a number in the body has too many digits") from None
    except RecursionError:  # '[[[[…': a few kilobytes nest past the parser's depth limit
        raise MalformedRequest("", "the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedRequest("", "the body must be a JSON object")
    _check_text(data)
    return validate(data, schema)


def _check_text(data: Any) -> None:
    """Reject strings (keys too) that no database or pass can hold: lone surrogates and NUL.

    JSON may spell a lone UTF-16 surrogate (``"\\ud800"``), which is not Unicode text: it cannot be written
    as UTF-8, so SQLite, PostgreSQL and pass.json would all fail on it. PostgreSQL text cannot hold NUL.
    """
    todo: deque[tuple[str, Any]] = deque([("", data)])  # a loop, not recursion: the JSON may nest deeply
    while todo:
        path, value = todo.popleft()
        if isinstance(value, dict):
            for k, v in value.items():
                child = f"{path}.{k}" if path else k
                _check_string(child, k)
                todo.append((child, v))
        elif isinstance(value, list):
            todo.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, str):
            _check_string(path, value)


def _check_string(field: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedRequest(field, "is not valid Unicode: it holds a lone surrogate escape such as \\ud800"
                                      ) from None
    if "\x00" in text:
        raise InvalidInput(field, "must not contain the NUL character (\\u0000)")
