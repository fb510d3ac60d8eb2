"""docs/weights.md lists every published weights file healthcnn downloads, by its exact name
(the name carries the SHA-256 prefix that is verified), and the base-URL variable."""

from __future__ import annotations

from pathlib import Path

from healthcnn.models import pretrained

DOC = Path(__file__).resolve().parents[2] / "docs" / "weights.md"


def test_every_file_and_model_is_in_the_table() -> None:
    text = DOC.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    for (model, _), file in pretrained._FILES.items():
        assert any(f"`{model}`" in row and f"`{file}`" in row for row in rows), (model, file)
    assert pretrained.URL_ENV in text and pretrained.BASE_URL in text
