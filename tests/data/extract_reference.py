"""Copy the vendors' own example messages out of their documents into test data.

Run from the repository root with the shared folder beside it:
    python tests/data/extract_reference.py ../shared/vendors
Each example is written as the document shows it (JSON comments such as
`// ...` removed, nothing else changed); the README beside them says where each
one comes from (document and line).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
BLOCK = re.compile(r"```json[^\n]*\n(.*?)```", re.S)


def examples(doc: Path) -> list[tuple[int, object]]:
    text = doc.read_text()
    out = []
    for match in BLOCK.finditer(text):
        body = re.sub(r"(?m)^\s*//[^\n]*$", "", match.group(1))
        body = re.sub(r",(\s*[}\]])", r"\1", body)
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            continue  # request listings, HTTP lines
        out.append((text[:match.start()].count("\n") + 1, value))
    return out


def main(vendors: Path) -> None:
    wanted = {
        "coinmarketcap": ("coinmarketcap-channels.md",
                          lambda v: v.get("type") in ("data", "ack", "pong", "error")),
        "mobula": ("mobula-pulse-stream-v2.md",
                   lambda v: v.get("type") in ("init", "sync", "new-token", "update-token",
                                               "remove-token")),
    }
    for vendor, (name, keep) in wanted.items():
        lines = []
        for line, value in examples(vendors / name):
            if not isinstance(value, dict) or not keep(value):
                continue
            label = value["channel"] if value.get("type") == "data" else value["type"]
            file = f"{str(label).replace('@', '_')}.json"
            (HERE / vendor / "reference" / file).write_text(json.dumps(value, indent=1) + "\n")
            lines.append(f"| `{file}` | `{name}`, line {line} |")
        readme = HERE / vendor / "reference" / "README.md"
        readme.write_text(
            f"# {vendor}: the vendor's own examples\n\nCopied verbatim (JSON comments "
            f"removed) from `shared/vendors/{name}` by `tests/data/extract_reference.py`.\n\n"
            "| file | from |\n|---|---|\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
