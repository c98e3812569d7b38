"""``denoise-studio methods [--json] [--family F]``: every method, its family and its parameters.

``methods import FILE [--name NAME] [--licence TEXT]`` imports a model file of a public
architecture as the method ``imported:NAME`` (``methods/imported.py``); ``methods remove ID``
takes it out again.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from denoise_studio.commands.common import jsonable
from denoise_studio.core.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a listing")
    parser.add_argument("--family", help="only the methods of this family (Classical, 'Deep Image Prior', ...)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser("import", help="import a .pth, .pt, .ckpt or .safetensors denoiser of a known architecture (needs spandrel)")
    add.add_argument("file", help="the model file (only read; a copy goes into the user data folder)")
    add.add_argument("--name", "--id", dest="name", help="the model's name, used as the method id imported:NAME (default: the file's name)")
    add.add_argument("--licence", default="", help="the model's licence, written into its card (it can be filled in later)")
    remove = actions.add_parser("remove", help="take an imported model out (its copy and card are deleted)")
    remove.add_argument("id", help="the method id, imported:NAME (or NAME)")


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

    action = getattr(args, "action", None)
    if action is not None:
        return _run_action(args, action)

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


def _run_action(args: argparse.Namespace, action: str) -> int:
    from denoise_studio.methods import import_model, remove_model

    if action == "import":
        entry = import_model(args.file, args.name, args.licence)
        card = getattr(entry, "card", None)
        print(f"imported {args.file} as {entry.id}")
        if card is not None:
            print("  " + card.summary().replace("\n", "\n  "))
        print(f"  run it with: denoise-studio denoise IMAGE -m {entry.id} -o OUT.png")
        return 0
    remove_model(args.id)
    print(f"removed {args.id}")
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
