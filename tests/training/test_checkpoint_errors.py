"""A damaged checkpoint gives one sentence naming the file and what is wrong with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from healthcnn.training.checkpoint import CHECKPOINT_JSON, load_checkpoint


@pytest.mark.parametrize("key", ["tensors", "tensors_sha256", "epoch", "has_best", "optimizer"])
def test_missing_key_names_the_file_and_the_key(
    tmp_path: Path, key: str, write_checkpoint: Callable[[Path], Path]
) -> None:
    path = write_checkpoint(tmp_path)
    doc = json.loads(path.read_text())
    del doc[key]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError) as err:
        load_checkpoint(tmp_path)
    message = str(err.value)
    assert str(tmp_path / CHECKPOINT_JSON) in message and repr(key) in message


def test_wrong_types_and_a_damaged_tensors_file(
    tmp_path: Path, write_checkpoint: Callable[[Path], Path]
) -> None:
    path = write_checkpoint(tmp_path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "tensors": 7}))
    with pytest.raises(ValueError, match=r"'tensors' must be a str, got 7"):
        load_checkpoint(tmp_path)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"must hold a JSON object"):
        load_checkpoint(tmp_path)
    path.write_text(json.dumps({**doc, "tensors": "../../etc/passwd"}))
    with pytest.raises(ValueError, match=r"must be a file name in"):
        load_checkpoint(tmp_path)
