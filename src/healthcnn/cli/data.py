"""``healthcnn data list``, ``healthcnn data info NAME`` and ``healthcnn data fetch NAME``."""

from __future__ import annotations

import argparse

from ..data.fetch import describe_dataset, fetch_dataset, list_status
from ..data.root import ENV_VAR, data_root
from . import add_format_option, printed_as_json


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default=None, help=f"data root (default: ${ENV_VAR}, else ~/.cache/healthcnn)"
    )


def _add_dataset(parser: argparse.ArgumentParser) -> None:
    """The dataset name, its MedMNIST size and the data root (info and fetch)."""
    parser.add_argument("name")
    parser.add_argument("--size", type=int, default=None, help="MedMNIST size (28, 64, 128, 224)")
    _add_root(parser)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="every known dataset and which sizes are under the root")
    _add_root(ls)
    add_format_option(ls)
    ls.set_defaults(func=_list)

    info = sub.add_parser("info", help="files, shapes, splits and class counts of one dataset")
    _add_dataset(info)
    info.add_argument(
        "--verify", action="store_true", help="check the checksums of the files present"
    )
    add_format_option(info)
    info.set_defaults(func=_info)

    fetch = sub.add_parser("fetch", help="download a dataset (resumes, verifies the checksum)")
    _add_dataset(fetch)
    fetch.add_argument(
        "--md5", default=None, help="accept this MD5 for a file the catalog has no checksum for"
    )
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds per network read")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_format_option(fetch)
    fetch.set_defaults(func=_fetch)


def _list(args: argparse.Namespace) -> int:
    rows = list_status(args.data_dir)
    if printed_as_json(args, rows):
        return 0
    print(f"data root: {data_root(args.data_dir)}")
    header = ("name", "kind", "task", "sizes (state)")
    table = [
        (
            r["name"],
            r["kind"],
            r["task"],
            "  ".join(f"{s}:{state}" if s != "-" else state for s, state in r["sizes"].items()),
        )
        for r in rows
    ]
    widths = [max(len(str(r[c])) for r in [header, *table]) for c in range(3)]
    for r in [header, *table]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    return 0


def _info(args: argparse.Namespace) -> int:
    info = describe_dataset(args.name, args.size, args.data_dir, verify=args.verify)
    if printed_as_json(args, info):
        return 0
    for key in (
        "name",
        "kind",
        "task",
        "spatial_dims",
        "channels",
        "size",
        "license",
        "source",
        "description",
    ):
        print(f"{key:>12}: {info[key]}")
    print(f"{'splits':>12}: " + ", ".join(f"{k} {v:,}" for k, v in info["splits"].items()))
    classes = info["classes"]
    if classes:
        print(f"{'classes':>12}: " + "; ".join(f"{i} {c}" for i, c in enumerate(classes)))
    for item in info["present"]:
        sums = ", ".join(f"{k.upper()} {item[k]}" for k in ("md5", "sha256") if item[k])
        print(
            f"\n{item['name']}: {item['state']} at {item['path']}"
            + (f" ({item['bytes']:,} bytes)" if "bytes" in item else "")
        )
        if sums:
            note = (
                " (official; does not apply to this re-save)" if item["state"] == "rebuilt" else ""
            )
            print(f"  checksum: {sums}{note}")
        if "checksum" in item:
            print(f"  verified: {item['checksum']}")
        if "problem" in item:
            print(f"  {item['problem']}")
        if item["url"]:
            print(f"  url: {item['url']}")
        for split, d in item.get("splits", {}).items():
            print(
                f"  {split:>5}: images {tuple(d['images'])}, labels {tuple(d['labels'])}, "
                f"class counts {d['class_counts']}"
            )
        if "rows" in item:
            print(f"  rows: {item['rows']:,}")
        if "class_counts" in item:
            print(f"  class counts: {item['class_counts']}")
    if "manifest" in info:
        m = info["manifest"]
        print(
            f"\n{m['file']}: {m['ok']} files ok, bad: {m['bad'] or 'none'}, "
            f"missing: {m['missing'] or 'none'}"
        )
    return 0


def _fetch(args: argparse.Namespace) -> int:
    paths = fetch_dataset(
        args.name,
        args.size,
        args.data_dir,
        md5=args.md5,
        progress=not args.no_progress,
        timeout=args.timeout,
    )
    if printed_as_json(args, {"files": [str(p) for p in paths]}):
        return 0
    for path in paths:
        print(path)
    return 0
