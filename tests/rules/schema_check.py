#!/usr/bin/env python3
"""rules/schema.json is a valid JSON Schema (draft 2020-12) and every file in
rules/examples/ validates against it. Skipped (exit 77) without python3-jsonschema."""
import glob
import json
import sys

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema not installed: skipped")
    sys.exit(77)

root = sys.argv[1]
with open(f"{root}/rules/schema.json", encoding="utf-8") as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
failed = False
examples = sorted(glob.glob(f"{root}/rules/examples/*.json"))
if not examples:
    print("no examples found")
    sys.exit(1)
for path in examples:
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    for error in validator.iter_errors(document):
        print(f"{path}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
        failed = True
# A file the loader rejects for a schema-visible reason must fail the schema too.
with open(f"{root}/tests/rules/broken/misspelled_key.json", encoding="utf-8") as f:
    if not list(validator.iter_errors(json.load(f))):
        print("schema accepts broken/misspelled_key.json")
        failed = True
sys.exit(1 if failed else 0)
