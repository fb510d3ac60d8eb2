"""The service's API in process (FastAPI's TestClient runs the app and its lifespan): the routes,
probabilities equal to ``healthcnn predict``'s on the same file, every refusal with its status
and one-line JSON error, the token, and nothing left behind or logged that should not be."""

from __future__ import annotations

import base64
import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from PIL import Image

from healthcnn.inference.files import predict_files
from healthcnn.serve import ServeConfig, create_app, load_models

pytestmark = pytest.mark.data

#: probabilities of the service and of predict, both fp32, may differ by float round-off only
#: (the service scores each upload in a batch of its own)
TOL = 1e-6
TOKEN = "s3cret-token-of-the-test-0123456789"


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def models(retina_bundle: Path, volume_case: dict) -> list:
    return load_models([retina_bundle, volume_case["bundle"]], precision="fp32", warm_batch=4)


@pytest.fixture
def client(models, tmp_path: Path):
    config = ServeConfig(max_batch=4, upload_dir=str(tmp_path / "uploads"), max_upload_mb=1)
    (tmp_path / "uploads").mkdir()
    with TestClient(create_app(models, config)) as c:
        yield c
    assert not any((tmp_path / "uploads").iterdir()), "an upload folder was left behind"


def post(client: TestClient, name: str, filename: str, data: bytes, **params):
    return client.post(
        f"/v1/models/{name}/predict", files={"file": (filename, data)}, params=params
    )


def test_models_lists_task_classes_points_and_version(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "models": 2}
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(listed) == {"bundle", "vol"}
    retina = listed["bundle"]
    assert retina["classes"] == ["0", "1", "2", "3", "4"] and retina["task"] == "multiclass"
    assert retina["input"] == {
        "kind": "image",
        "channels": 3,
        "size": [28, 28],
        "window": None,
        "spacing": None,
    }
    points = retina["operating_points"]
    assert points["positive"] == ["2", "3", "4"] and len(points["points"]) == 2
    assert points["points"][0]["val_sensitivity"] >= 0.9
    assert retina["prediction_sets"] and retina["abstention"] and len(retina["version"]) == 64
    vol = listed["vol"]
    assert vol["input"]["kind"] == "volume" and vol["operating_points"] is None
    assert client.get("/v1/models/vol").json() == vol
    assert client.get("/v1/models/nope").status_code == 404
    assert "/v1/models/{name}/predict" in client.get("/openapi.json").json()["paths"]


def test_png_and_npz_answers_equal_predict(client, retina_bundle, retina_inputs, tmp_path) -> None:
    image = retina_inputs[3]
    (tmp_path / "x.png").write_bytes(png_bytes(image))
    want = predict_files(retina_bundle, [tmp_path / "x.png"], precision="fp32")[0]
    r = post(client, "bundle", "x.png", png_bytes(image))
    assert r.status_code == 200, r.text
    body = r.json()
    got = body["results"][0]
    assert set(got) == {"input", "probabilities", "set", "abstain", "decisions"}
    for cls, p in want["probabilities"].items():
        assert got["probabilities"][cls] == pytest.approx(p, abs=TOL)
    assert got["set"] == want["set"] and got["abstain"] == want["abstain"]
    assert got["decisions"] == want["decisions"]
    assert body["version"] == client.get("/v1/models/bundle").json()["version"]
    assert body["time_ms"] > 0
    np.savez(tmp_path / "many.npz", images=retina_inputs[:5])
    want = predict_files(retina_bundle, [tmp_path / "many.npz"], precision="fp32")
    got = post(client, "bundle", "arrays", (tmp_path / "many.npz").read_bytes()).json()["results"]
    assert len(got) == 5
    for a, b in zip(got, want, strict=True):
        assert np.allclose(
            list(a["probabilities"].values()), list(b["probabilities"].values()), atol=TOL
        )


def zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f"series/{f.name}")
    return buf.getvalue()


def test_a_zipped_dicom_series_and_one_slice_file(client, volume_case) -> None:
    series = volume_case["root"] / "test1"
    want = predict_files(volume_case["bundle"], [series], precision="fp32")[0]
    r = post(client, "vol", "scan.zip", zipped(series), preview="true")
    assert r.status_code == 200, r.text
    got = r.json()
    for cls, p in want["probabilities"].items():
        assert got["results"][0]["probabilities"][cls] == pytest.approx(p, abs=TOL)
    shown = got["preview"]
    assert shown["dtype"] == "uint8" and shown["shape"] == [1, 8, 8, 8]
    assert len(base64.b64decode(shown["data"])) == 8**3
    one = next(series.iterdir()).read_bytes()  # a single slice is a 2D image: not this model's
    r = post(client, "vol", "slice.dcm", one)
    assert r.status_code == 422 and "trained on SPL volumes" in r.json()["error"]


def test_explain_returns_the_figure_and_its_verdict(client, retina_inputs) -> None:
    r = post(client, "bundle", "x.png", png_bytes(retina_inputs[0]), explain="gradcam")
    assert r.status_code == 200, r.text
    s = r.json()["saliency"]
    assert s["method"] == "gradcam" and s["class"] in [str(k) for k in range(5)]
    assert s["figure"].startswith("data:image/png;base64,")
    png = base64.b64decode(s["figure"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size[0] >= 2 * 224  # input beside the overlay
    assert s["sanity"]["verdict"] in ("pass", "fail") and s["sanity"]["steps"]
    r = post(client, "bundle", "x.png", png_bytes(retina_inputs[0]), explain="shap")
    assert r.status_code == 422 and "gradcam" in r.json()["error"]


@pytest.mark.parametrize(
    ("filename", "data", "status", "words"),
    [
        ("notes.txt", b"just some text, no image", 415, "unsupported file"),
        ("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "could not be decoded"),
        ("x.dcm", b"\x00" * 128 + b"DICM" + b"\x02\x00" * 10, 422, ""),  # truncated DICOM
        ("x.zip", b"PK\x03\x04" + b"\x00" * 30, 422, "zip"),
        ("x.nii.gz", b"\x1f\x8b" + b"\x00" * 30, 422, ""),
    ],
)
def test_bad_files_get_one_clear_error(client, filename, data, status, words) -> None:
    r = post(client, "bundle", filename, data)
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert words in message and "\n" not in message and "upload-" not in message


def test_requests_that_are_not_one_file_are_refused(client, retina_inputs) -> None:
    r = client.post(
        "/v1/models/bundle/predict", content=b"raw", headers={"content-type": "image/png"}
    )
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]
    r = client.post("/v1/models/bundle/predict", files={"image": ("x.png", b"abc")})
    assert r.status_code == 422 and "'file'" in r.json()["error"]
    r = post(client, "bundle", "x.png", b"")
    assert r.status_code == 422 and "empty" in r.json()["error"]
    assert post(client, "nope", "x.png", png_bytes(retina_inputs[0])).status_code == 404


def test_uploads_over_the_limit_are_413(client) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(2 * 1024 * 1024)
    r = post(client, "bundle", "big.png", big)
    assert r.status_code == 413 and "limit of 1048576 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: counted while it streams
        yield (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        for _ in range(40):
            yield bytes(64 * 1024)

    r = client.post(
        "/v1/models/bundle/predict",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413


def bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.dcm", bytes(9 * 1024 * 1024))  # 9 MB of zeros packs to a few kB
    return buf.getvalue()


def test_zips_that_point_outside_or_explode_are_refused(client) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../etc/x.dcm", b"x")
        z.writestr("b.dcm", b"y")
    r = post(client, "vol", "s.zip", buf.getvalue())
    assert r.status_code == 422 and "outside" in r.json()["error"]
    data = bomb()
    assert len(data) < 1024 * 1024
    r = post(client, "vol", "s.zip", data)
    assert r.status_code == 413 and "unpacks to" in r.json()["error"]


def test_the_token_guards_every_route_but_healthz(models, retina_inputs, tmp_path) -> None:
    config = ServeConfig(token=TOKEN, upload_dir=str(tmp_path))
    with TestClient(create_app(models, config)) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/v1/models", "/", "/docs", "/openapi.json", "/v1/models/bundle/card"):
            r = c.get(path)
            assert r.status_code == 401 and "token" in r.json()["error"], path
            assert r.headers["www-authenticate"].startswith("Basic")
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": TOKEN}).status_code == 401
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/v1/models", headers=ok).status_code == 200
        basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
        assert c.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        files = {"file": ("x.png", png_bytes(retina_inputs[0]))}
        assert c.post("/v1/models/bundle/predict", files=files).status_code == 401
        r = c.post("/v1/models/bundle/predict", files=files, headers=ok)
        assert r.status_code == 200
    with pytest.raises(ValueError, match="token is empty"):
        ServeConfig(token="  ")


def test_the_card_is_the_bundles_sealed_report(client, retina_bundle) -> None:
    r = client.get("/v1/models/vol/card")
    assert r.status_code == 404 and "healthcnn report" in r.json()["error"]


def test_no_patient_attribute_or_upload_path_reaches_the_logs(client, volume_case, caplog) -> None:
    from medical_files import PATIENT, STUDY_UID

    caplog.set_level(logging.DEBUG)
    series = volume_case["root"] / "test2"
    assert post(client, "vol", "Doe^Jane.zip", zipped(series)).status_code == 200
    assert (
        post(client, "vol", "Doe^Jane.dcm", next(series.iterdir()).read_bytes()).status_code == 422
    )
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "predict: 200" in text and "predict: 422" in text
    for value in (*PATIENT.values(), STUDY_UID, "Doe^Jane"):
        assert value not in text


def test_a_zipped_wfdb_record_is_windowed_as_predict_does(tmp_path) -> None:
    pytest.importorskip("wfdb")
    from healthcnn.bundle import Preprocessing, save_bundle
    from healthcnn.data.ecg_datasets import record_recipe
    from healthcnn.data.root import data_root
    from healthcnn.models import create_model
    from healthcnn.tasks import make_task

    record = Preprocessing(
        channels=2,
        size=(1000,),
        spatial_dims=1,
        scale=1.0,
        sampling_rate=100.0,
        **record_recipe("cpsc2021"),
    )
    kwargs = {"spatial_dims": 1, "in_channels": 2, "num_classes": 1}
    torch_model = create_model("simple_cnn", **kwargs)
    bundle = save_bundle(
        tmp_path / "ecg",
        torch_model,
        model_name="simple_cnn",
        model_kwargs=kwargs,
        task=make_task("binary", ["non-AF", "AF"]),
        preprocessing=record,
    )
    folder = data_root() / "ecg" / "cpsc2021" / "records"
    want = predict_files(bundle, [folder / "data_101_6.hea"], precision="fp32")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for suffix in (".hea", ".dat"):
            z.write(folder / f"data_101_6{suffix}", f"record/data_101_6{suffix}")
    config = ServeConfig(upload_dir=str(tmp_path))
    with TestClient(create_app(load_models([bundle], precision="fp32"), config)) as c:
        r = post(c, "ecg", "ecg.zip", buf.getvalue(), preview="true")
        assert r.status_code == 200, r.text
        got = r.json()
        assert [g["input"] for g in got["results"]] == [w["input"] for w in want]
        for a, b in zip(got["results"], want, strict=True):
            assert a["probabilities"]["AF"] == pytest.approx(b["probabilities"]["AF"], abs=TOL)
        shown = got["preview"]
        assert shown["dtype"] == "float32" and shown["shape"][0] == 2 and len(shown["leads"]) == 2
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.write(folder / "data_101_6.hea", "data_101_6.hea")  # the signal file is missing
        r = post(c, "ecg", "ecg.zip", buf.getvalue())
        assert r.status_code == 422 and "data_101_6" in r.json()["error"]


def test_the_onnx_engine_serves_predicts_probabilities(retina_bundle, retina_inputs, tmp_path):
    pytest.importorskip("onnxruntime")
    (tmp_path / "x.png").write_bytes(png_bytes(retina_inputs[1]))
    want = predict_files(retina_bundle, [tmp_path / "x.png"], engine="onnx")[0]
    models = load_models([retina_bundle], engine="onnx", warm_batch=2)
    assert models[0].info()["engine"].startswith("onnx")
    with TestClient(create_app(models, ServeConfig(upload_dir=str(tmp_path)))) as c:
        got = post(c, "bundle", "x.png", png_bytes(retina_inputs[1])).json()["results"][0]
    for cls, p in want["probabilities"].items():
        assert got["probabilities"][cls] == pytest.approx(p, abs=1e-5)


def test_a_request_over_the_timeout_is_504_and_the_service_goes_on(models, retina_inputs, tmp_path):
    config = ServeConfig(request_timeout_s=1e-6, upload_dir=str(tmp_path))
    with TestClient(create_app(models, config)) as c:
        r = post(c, "bundle", "x.png", png_bytes(retina_inputs[0]))
        assert r.status_code == 504 and "longer than" in r.json()["error"]
        assert c.get("/healthz").status_code == 200
    assert not list(tmp_path.iterdir())
