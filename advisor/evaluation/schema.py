"""The JSON Schema of run.json, generated from the record's models and shipped beside them
(advisor/evaluation/run.schema.json) for readers in other languages and for CI checks.

Regenerate after changing a record model:  python -m advisor.evaluation.schema
"""

from __future__ import annotations

import json
import sys

from advisor.evaluation.record import SCHEMA_FILE, record_schema

__all__ = ["schema_text", "main"]


def schema_text() -> str:
    return json.dumps(record_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> int:
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
