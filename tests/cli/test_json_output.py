"""``--format json`` prints strict JSON on every command that uses the shared printer: an
undefined number (an AUC on a one-class split) is ``null``, never ``NaN``."""

from __future__ import annotations

import argparse
import json

from healthcnn.cli import printed_as_json


def test_undefined_numbers_print_as_null(capsys, strict_json) -> None:
    doc = {"metrics": {"test": {"auc": float("nan"), "acc": 0.5}}, "inf": float("inf")}
    assert printed_as_json(argparse.Namespace(format="json"), doc)
    parsed = strict_json(capsys.readouterr().out)
    assert parsed == {"metrics": {"test": {"auc": None, "acc": 0.5}}, "inf": None}
    assert not printed_as_json(argparse.Namespace(format="text"), doc)
    assert capsys.readouterr().out == ""
    json.dumps(parsed)  # plain data


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every runnable command and sub-command of ``parser`` as (words, parser)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


#: commands that print no results (so no --format), and why
NO_RESULTS = {("serve",): "a service: its results are the API's JSON, its output a log"}


def test_every_command_takes_format_text_or_json() -> None:
    from healthcnn.cli import COMMANDS, build_parser

    leaves = dict(_leaves(build_parser()))
    assert {words[0] for words in leaves} == set(COMMANDS)
    missing = []
    for words, parser in leaves.items():
        if words in NO_RESULTS:
            continue
        formats = [a for a in parser._actions if "--format" in a.option_strings]
        if not formats or not {"text", "json"} <= set(formats[0].choices or ()):
            missing.append(" ".join(words))
        elif formats[0].default != "text":
            missing.append(f"{' '.join(words)} (default {formats[0].default})")
    assert missing == []
