"""``denoise-studio methods [--json] [--family F]``: every method, its family and its parameters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from denoise_studio.commands.common import jsonable
from denoise_studio.core.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a listing")
    parser.add_argument("--family", help="only the methods of this family (Classical, 'Deep Image Prior', ...)")


def describe(entry: Any) -> dict[str, Any]:
    """One method as a JSON-compatible dictionary; a method that cannot load says why."""
    out: dict[str, Any] = {"id": entry.id, "title": entry.title, "family": entry.family}
    try:
        cls = entry.load()
        method = cls()
        out["description"] = getattr(cls, "description", "")
        out["iterative"] = bool(getattr(cls, "iterative", False))
        out["available"] = method.availability() is None
        if method.availability() is not None:
            out["unavailable_reason"] = method.availability()
        out["params"] = [spec.to_json() for spec in cls.Params.specs()]
    except Exception as exc:  # noqa: BLE001 - a method that cannot load is listed as unavailable, with why
        out.update(available=False, unavailable_reason=f"cannot load: {type(exc).__name__}: {exc}", params=[])
    return out


def run(args: argparse.Namespace) -> int:
    from denoise_studio.methods import REGISTRY

    entries = [e for e in REGISTRY.values() if args.family is None or e.family.lower() == args.family.lower()]
    if args.family is not None and not entries:
        families = sorted({e.family for e in REGISTRY.values()})
        raise UserError(f"no method of family {args.family!r}; families: {', '.join(families)}")
    described = [describe(e) for e in entries]
    if args.json:
        print(json.dumps({"methods": jsonable(described)}, indent=2, ensure_ascii=False))
        return 0
    family = None
    for item in described:
        if item["family"] != family:
            family = item["family"]
            print(f"\n{family}")
        flag = "" if item.get("available") else f"  [unavailable: {item.get('unavailable_reason')}]"
        print(f"  {item['id']:<16} {item['title']}{flag}")
        for spec in item["params"]:
            print(f"      {_describe_spec(spec)}")
    return 0


def _describe_spec(spec: dict[str, Any]) -> str:
    default = "auto" if spec["default"] is None else spec["default"]
    text = f"{spec['name']}={default}"
    if "choices" in spec:
        text += f"  {{{', '.join(spec['choices'])}}}"
    elif "minimum" in spec or "maximum" in spec:
        text += f"  [{spec.get('minimum', '')} … {spec.get('maximum', '')}]"
    if spec.get("description"):
        text += f"  {spec['description']}"
    return text
