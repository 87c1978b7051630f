"""OpenAI's published schemas, to check what the stack answers: ``validate("ErrorResponse", body)``.

``openai_schemas.json`` holds the component schemas of OpenAI's OpenAPI file (repository
openai/openai-openapi, file ``openapi.json`` at commit f85dbe223d40e1a31cba812ab2d755c7e98a92a3,
spec version 2.3.0; also recorded in the file's ``_source``) that describe
the audio, models, error, voice and realtime-transcription shapes, with everything they ``$ref``.
``extract_openai_schemas.py`` made it and says how to refresh it. OpenAPI 3.1 schemas are JSON
Schema 2020-12; OpenAPI's own keywords (``discriminator``, ``x-…``) are annotations and ignored.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMAS_FILE = Path(__file__).with_name("openai_schemas.json")


class SchemaMismatch(AssertionError):
    """An instance that does not conform to an OpenAI schema."""


@functools.cache
def _document() -> dict[str, Any]:
    return json.loads(SCHEMAS_FILE.read_text())


def source() -> dict[str, str]:
    """Where the schemas come from: repository, commit and file of OpenAI's spec."""
    return _document()["_source"]


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    components = _document()["components"]
    if name not in components["schemas"]:
        raise KeyError(f"no OpenAI schema {name!r} in {SCHEMAS_FILE.name}")
    # The root holds the components, so the spec's "#/components/schemas/…" references resolve.
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(schema_name: str, instance: Any) -> None:
    """Raise SchemaMismatch naming the schema, where in the instance and what is wrong."""
    errors = list(_validator(schema_name).iter_errors(instance))
    if not errors:
        return
    error = best_match(errors)
    where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    raise SchemaMismatch(
        f"not an OpenAI {schema_name} at {where}: {error.message} ({len(errors)} error(s) in all)\n"
        f"instance: {json.dumps(instance, ensure_ascii=False)[:2000]}"
    )
