#!/usr/bin/env python3
"""validate-reports.py SCHEMA DIR: checks every report.json the test suite's
runs of casebisect wrote (tests/test_helpers.c keeps a copy of each in DIR)
against docs/report-schema.json. Prints how many it checked; exits 1 naming
each one that does not validate and why, 1 also when DIR holds none (the
copies were not made, so nothing was checked)."""
import json
import os
import sys

import jsonschema


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: validate-reports.py SCHEMA DIR")
    schema_path, folder = sys.argv[1], sys.argv[2]
    with open(schema_path) as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    bad = 0
    for name in names:
        path = os.path.join(folder, name)
        with open(path) as f:
            report = json.load(f)
        errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
        if errors:
            bad += 1
            e = errors[0]
            where = "/".join(str(p) for p in e.path) or "(top)"
            print(f"{path}: {where}: {e.message[:300]} ({len(errors)} error(s); "
                  f"verdict {report.get('verdict')!r})", file=sys.stderr)
    if not names:
        print(f"validate-reports: no report.json was kept in {folder}", file=sys.stderr)
        return 1
    print(f"validate-reports: {len(names) - bad} of {len(names)} report.json written by the "
          f"tests' runs validate against {schema_path}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
