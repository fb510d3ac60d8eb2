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
