"""Models named by import path ``package.module:callable`` (``models/_external.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from healthcnn.models import create_model
from healthcnn.models._external import is_import_path, resolve_import_path

CLI_TESTS = Path(__file__).resolve().parents[1] / "cli"  # holds user_models.py


@pytest.fixture(autouse=True)
def _user_models_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(CLI_TESTS))


def test_a_class_gets_in_channels_num_classes_and_the_users_arguments() -> None:
    model = create_model("user_models:TinyNet", in_channels=1, num_classes=3, width=5)
    assert model.head.in_features == 5 and model.features[0].in_channels == 1
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_spatial_dims_is_passed_where_the_callable_names_it(dims: int) -> None:
    model = create_model(
        "user_models:build_any_dims", spatial_dims=dims, in_channels=2, num_classes=4
    )
    assert model(torch.zeros(1, 2, *(8,) * dims)).shape == (1, 4)


def test_spatial_dims_is_not_forced_on_a_callable_without_it() -> None:
    # TinyNet's __init__ has no spatial_dims: building it at spatial_dims=2 must not pass one
    assert create_model("user_models:TinyNet", spatial_dims=2, num_classes=2) is not None


def test_a_callable_that_returns_no_module_is_refused() -> None:
    with pytest.raises(TypeError, match=r"returned a dict, not an nn\.Module"):
        create_model("user_models:not_a_model", num_classes=2)


def test_a_failing_constructor_is_named() -> None:
    with pytest.raises(ValueError, match=r"building the model user_models:fails_to_build failed"):
        create_model("user_models:fails_to_build", num_classes=2)


def test_an_unknown_argument_names_the_contract() -> None:
    with pytest.raises(TypeError, match="in_channels and num_classes"):
        create_model("user_models:TinyNet", num_classes=2, depth=3)


def test_a_dependency_missing_inside_the_module_is_named(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "needs_dep.py").write_text("import surely_not_installed_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="needs 'surely_not_installed_xyz'"):
        create_model("needs_dep:Net")


def test_an_error_while_importing_is_named(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"importing module 'broken_mod'.*RuntimeError: boom"):
        create_model("broken_mod:Net")


def test_not_callable_and_malformed_paths() -> None:
    with pytest.raises(TypeError, match="not a callable"):
        resolve_import_path("user_models:__doc__")
    for bad in ("user_models:", ":TinyNet", "a:b:c", "user models:TinyNet"):
        with pytest.raises(ValueError, match="not an import path"):
            resolve_import_path(bad)
    assert is_import_path("a.b:c") and not is_import_path("resnet18")


def test_local_weights_load_into_an_own_model(tmp_path: Path) -> None:
    from healthcnn.models.weights import save_state_file

    source = create_model("user_models:TinyNet", num_classes=2, width=4)
    path = save_state_file(source.state_dict(), tmp_path / "w.safetensors")
    loaded = create_model("user_models:TinyNet", num_classes=2, width=4, weights=path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(source.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    with pytest.raises(ValueError, match="registered models only"):
        create_model("user_models:TinyNet", num_classes=2, weights="imagenet")
