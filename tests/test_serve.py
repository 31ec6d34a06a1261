"""kerakit serve: TF Serving's REST API from a real server process, real clients, a real browser.

One digits model is trained and exported for the module, and one server serves it
(plus a versioned copy) for every test; the last test stops that server with SIGTERM.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import cli_env, run_cli
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

import kerakit as kk
from kerakit.cli import main as cli_main
from kerakit.deploy.exporting import check_hashes
from kerakit.deploy.predict import predict_file
from kerakit.deploy.serving import ServedModel, input_kind
from kerakit.deploy.serving_page import render_page
from kerakit.errors import DataError

MAX_BODY = 100_000
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A trained digits export in TF Serving's versioned layout, written by `kerakit export`."""
    root = tmp_path_factory.mktemp("serve")
    decl = kk.Model(name="digits_tiny", inputs=(8, 8, 1), preprocess=["standardize"],
                    blocks=["flatten", kk.use("dense_block", units=32)],
                    head=kk.use("classifier", classes=10,
                                class_names=[f"digit{i}" for i in range(10)]),
                    epochs=3)
    run = kk.fit(decl, "digits", out=root / "run", verbose=0)
    assert cli_main(["export", str(run.dir), "--out", str(root / "versioned"),
                     "--version", "2"]) == 0
    # The export served as "digits"; and an older version beside it in the versioned layout.
    shutil.copytree(root / "versioned" / "2", root / "digits")
    shutil.copytree(root / "versioned" / "2", root / "versioned" / "1")
    # A table model: raw named columns, one of them text.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"island": rng.choice(["Dream", "Biscoe", "Torgersen"], 120),
                          "bill length": rng.normal(44, 5, 120)})
    frame["species"] = np.where(frame["bill length"] > 44, "gentoo", "adelie")
    table = kk.Model(kk.Input((None,)), [kk.use("dense_block", units=8)],
                     kk.use("classifier", classes=2), epochs=2, name="penguins")
    kk.export(kk.fit(table, frame, target="species", out=root / "table_run", verbose=0),
              root / "table")
    return root


@pytest.fixture(scope="module")
def digits_x():
    return kk.get_component("datasets", "digits").create().x_test[:6]


def start_server(*args: str, model: str) -> tuple[subprocess.Popen, str]:
    """A real `kerakit serve ARGS` process on a free port, once `model` answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kerakit", "serve", *args, "--port", str(port)],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 120
    while True:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline, "the server did not start in 120 s"
        try:
            if httpx.get(f"{url}/v1/models/{model}", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)


@pytest.fixture(scope="module")
def server(exports):
    proc, url = start_server(str(exports / "digits"), "--name", "digits",
                             "--model", f"versioned={exports / 'versioned'}",
                             "--model", f"table={exports / 'table'}",
                             "--max-body", str(MAX_BODY), model="digits")
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server[1], timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def expected(exports, digits_x):
    loaded = tf.saved_model.load(str(exports / "digits"))
    return loaded.serve(tf.constant(digits_x))["outputs"].numpy()


def test_status_and_metadata_parse_as_tf_serving_protos(client):
    status = client.get("/v1/models/digits")
    assert status.status_code == 200
    parsed = json_format.ParseDict(status.json(), get_model_status_pb2.GetModelStatusResponse())
    (version,) = parsed.model_version_status
    assert version.version == 1 and version.state == version.AVAILABLE
    meta = client.get("/v1/models/digits/metadata").json()
    response = json_format.ParseDict(meta, get_model_metadata_pb2.GetModelMetadataResponse())
    assert response.model_spec.name == "digits" and response.model_spec.version.value == 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    default = signatures.signature_def["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert default.inputs["inputs"].dtype == tf.float32.as_datatype_enum
    assert [d.size for d in default.inputs["inputs"].tensor_shape.dim] == [-1, 8, 8, 1]
    assert set(signatures.signature_def["classify"].outputs) == {
        "probabilities", "class_name", "class_names"}


def test_predict_row_and_columnar_formats(client, digits_x, expected):
    rows = client.post("/v1/models/digits:predict", json={"instances": digits_x.tolist()})
    assert rows.status_code == 200
    np.testing.assert_allclose(rows.json()["predictions"], expected, atol=1e-6)
    named = client.post("/v1/models/digits:predict",
                        json={"instances": [{"inputs": x} for x in digits_x.tolist()]})
    np.testing.assert_allclose(named.json()["predictions"], expected, atol=1e-6)
    columns = client.post("/v1/models/digits:predict", json={"inputs": digits_x.tolist()})
    np.testing.assert_allclose(columns.json()["outputs"], expected, atol=1e-6)
    by_name = client.post("/v1/models/digits:predict",
                          json={"inputs": {"inputs": digits_x.tolist()}})
    np.testing.assert_allclose(by_name.json()["outputs"], expected, atol=1e-6)
    # several outputs: one object per row, or one list per output
    classify_rows = client.post("/v1/models/digits:predict", json={
        "signature_name": "classify", "instances": digits_x[:2].tolist()}).json()["predictions"]
    assert [r["class_name"] for r in classify_rows] == [
        f"digit{i}" for i in expected[:2].argmax(1)]
    classify_cols = client.post("/v1/models/digits:predict", json={
        "signature_name": "classify", "inputs": digits_x[:2].tolist()}).json()["outputs"]
    assert classify_cols["class_name"] == [r["class_name"] for r in classify_rows]
    np.testing.assert_allclose(classify_cols["probabilities"], expected[:2], atol=1e-6)


def test_classify_returns_label_score_pairs(client, digits_x, expected):
    response = client.post("/v1/models/digits:classify",
                           json={"examples": [{"inputs": x} for x in digits_x.tolist()]})
    assert response.status_code == 200
    result = response.json()["result"]
    assert len(result) == len(digits_x)
    for pairs, probabilities in zip(result, expected, strict=True):
        assert [label for label, _ in pairs] == [f"digit{i}" for i in range(10)]
        np.testing.assert_allclose([score for _, score in pairs], probabilities, atol=1e-6)
    shared = client.post("/v1/models/digits:classify",
                         json={"context": {"inputs": digits_x[0].tolist()}, "examples": [{}]})
    assert shared.json()["result"] == result[:1]


def test_several_models_and_the_versioned_layout(client, digits_x, expected):
    status = client.get("/v1/models/versioned").json()
    assert status["model_version_status"][0]["version"] == "2"  # the latest is served
    for path in ("/v1/models/versioned:predict", "/v1/models/versioned/versions/2:predict"):
        response = client.post(path, json={"instances": digits_x.tolist()})
        np.testing.assert_allclose(response.json()["predictions"], expected, atol=1e-6)
    old = client.post("/v1/models/versioned/versions/1:predict", json={"instances": [[0]]})
    assert old.status_code == 404
    assert old.json() == {"error": "Servable not found for request: Specific(versioned, 1)"}
    assert client.get("/v1/models/nothing").status_code == 404


BAD_REQUESTS = {
    "malformed JSON": (b'{"instances": [1, 2', "not valid JSON"),
    "not an object": (b"[1, 2, 3]", "Expected a JSON object"),
    "no instances or inputs": (b'{"rows": []}', "Expected exactly one of `instances`"),
    "both formats": (b'{"instances": [], "inputs": []}', "Expected exactly one of `instances`"),
    "wrong shape": (json.dumps({"instances": [[1.0] * 10]}).encode(),
                    "Expected (batch, 8, 8, 1). Received: (1, 10)"),
    "wrong dtype": (json.dumps({"instances": [[[["x"]] * 8] * 8]}).encode(),
                    "expected numbers of dtype float32. Received: dtype <U1"),
    "ragged": (b'{"instances": [[1, 2], [3]]}', "expected a rectangular array"),
    "missing input": (b'{"instances": [{"pixels": [1]}]}', "missing input `inputs`"),
    "unknown signature": (b'{"signature_name": "nope", "instances": [[1]]}',
                          "Invalid `signature_name`"),
    "too large": (b'{"instances": [' + b"0, " * MAX_BODY + b"0]}", "the body is too large"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_400_and_the_server_keeps_serving(client, server, digits_x, case):
    body, message = BAD_REQUESTS[case]
    response = client.post("/v1/models/digits:predict", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(response.json()) == ["error"] and message in error
    assert "Traceback" not in error
    assert server[0].poll() is None
    good = client.post("/v1/models/digits:predict", json={"instances": digits_x[:1].tolist()})
    assert good.status_code == 200


def test_classify_errors_are_400s(client, digits_x):
    overlap = client.post("/v1/models/digits:classify", json={
        "context": {"inputs": digits_x[0].tolist()},
        "examples": [{"inputs": digits_x[0].tolist()}]})
    assert overlap.status_code == 400 and "must not appear in examples" in overlap.json()["error"]
    not_a_classifier = client.post("/v1/models/digits:classify", json={
        "signature_name": "serving_default", "examples": [{"inputs": digits_x[0].tolist()}]})
    assert not_a_classifier.status_code == 400
    assert "Expected a classification signature" in not_a_classifier.json()["error"]
    wrong_method = client.get("/v1/models/digits:predict")
    assert wrong_method.status_code == 405 and "Expected POST" in wrong_method.json()["error"]


def test_a_tampered_export_is_refused_at_start(exports, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(exports / "digits", tampered)
    variables = next((tampered / "variables").glob("*.data-*"))
    data = variables.read_bytes()
    variables.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    result = run_cli("serve", str(tampered), "--port", str(free_port()), timeout=120)
    assert result.returncode == 1
    assert "Refusing to use the export" in result.stderr and "altered: ['variables/" in \
        result.stderr
    assert "listening" not in result.stderr


def test_serve_arguments_are_checked(exports, tmp_path, capsys):
    assert cli_main(["serve", "--model", "no-equals-sign"]) == 1
    assert "Expected NAME=DIR. Received: --model no-equals-sign" in capsys.readouterr().err
    assert cli_main(["serve"]) == 1
    assert "Nothing to serve" in capsys.readouterr().err
    assert cli_main(["serve", "--model", f"x={tmp_path}"]) == 1
    assert "Expected a directory written by `kerakit export`" in capsys.readouterr().err
    assert cli_main(["export", str(exports / "run"), "--out", str(tmp_path / "v"),
                     "--version", "0"]) == 1
    assert "Invalid value for `--version`" in capsys.readouterr().err
    check_hashes(exports / "versioned" / "2")


def test_a_busy_port_is_refused_before_the_models_load(exports):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("serve", str(exports / "digits"), "--port", str(port), timeout=120)
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}. Expected a free port" in result.stderr
    assert "serving digits" not in result.stderr and "listening" not in result.stderr


def test_port_0_listens_on_a_free_port_and_prints_it(exports):
    proc = subprocess.Popen([sys.executable, "-m", "kerakit", "serve", str(exports / "digits"),
                             "--port", "0"], env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # bounded: the process exits if it cannot start
            lines.append(line)
            if line.startswith("listening on "):
                break
        url = lines[-1].split()[2].rstrip("/")
        port = int(url.rsplit(":", 1)[1])
        assert port != 0, lines
        assert httpx.get(f"{url}/v1/models/digits", timeout=30).status_code == 200
    finally:
        proc.kill()
        proc.wait()


def test_a_client_that_stops_mid_request_is_cut_off_after_the_read_timeout(exports):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kerakit", "serve", str(exports / "digits"),
                             "--port", str(port), "--read-timeout", "1"], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # bounded: the process exits if it cannot start
            if line.startswith("listening on "):
                break
        partial_headers = b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\n"
        partial_body = partial_headers + b"Content-Length: 100\r\n\r\n{\"instances\": ["
        for sent in (partial_headers, partial_body):
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(sent)
                conn.settimeout(20)  # without the read timeout, recv raises TimeoutError
                reply = conn.recv(65536)  # b"" once the server closes the connection
                assert not reply.startswith(b"HTTP/1.1 200"), reply[:200]
        body = {"instances": np.zeros((1, 8, 8, 1)).tolist()}
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/digits:predict", json=body,
                            timeout=30)
        assert answer.status_code == 200  # a whole request in time is answered as ever
    finally:
        proc.kill()
        log = proc.communicate()[1]
    assert "Traceback" not in log, log[-3000:]


def test_input_kind_and_the_page_data():
    image = {"inputs": [{"name": "inputs", "shape": [None, 8, 8, 1], "dtype": "float32"}]}
    flat = {"inputs": [{"name": "inputs", "shape": [None, 4], "dtype": "float32"}]}
    assert input_kind(image) == "image"
    assert input_kind(flat) == "array"
    # the hook for table models: a form once exports name their columns
    assert input_kind({**flat, "columns": ["a", "b", "c", "d"]}) == "table"
    table = ServedModel("t", 1, Path("."), {"inputs": [{"name": "a", "shape": [None],
                                                         "dtype": "string"}],
                                             "columns": {"a": "categorical"}})
    assert table.describe()["inputs"] == [{"name": "a", "shape": [None], "dtype": "string"}]
    assert "tableForm(model, section)" in render_page([])  # one field per column
    page = render_page([{"name": "</script><b>", "version": 1}])
    assert "</script><b>" not in page and "\\u003c/script>" in page


def test_a_table_model_answers_rows_by_column_name(client, exports):
    rows = [{"island": "Dream", "bill length": 39.1},
            {"island": "Atlantis", "bill length": None}]  # an unseen island; a missing number
    answer = client.post("/v1/models/table:predict", json={"instances": rows})
    assert answer.status_code == 200, answer.text
    predictions = np.asarray(answer.json()["predictions"])
    assert predictions.shape == (2, 2)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    loaded = tf.saved_model.load(str(exports / "table"))
    direct = loaded.signatures["serving_default"](
        island=tf.constant(["Dream", "Atlantis"]),
        bill_length=tf.constant([39.1, np.nan], tf.float32))
    np.testing.assert_allclose(predictions, next(iter(direct.values())).numpy(), atol=1e-6)
    columnar = client.post("/v1/models/table:predict", json={
        "inputs": {"island": ["Dream", "Atlantis"], "bill_length": [39.1, None]}})
    np.testing.assert_allclose(columnar.json()["outputs"], predictions, atol=1e-6)
    classified = client.post("/v1/models/table:classify", json={
        "examples": [{"bill length": 39.1}], "context": {"island": "Dream"}})
    assert {label for label, _ in classified.json()["result"][0]} == {"adelie", "gentoo"}


@pytest.mark.parametrize("body, message", [
    ({"instances": [{"island": "Dream"}]}, "missing column `bill_length`"),
    ({"instances": [{"island": "Dream", "bill length": "long"}]}, "expected numbers"),
    ({"instances": [{"island": "Dream", "bill length": 1.0, "beak": 2}]}, "unknown columns"),
    ({"instances": [[1.0, 2.0]]}, "Expected an object of columns"),
    ({"inputs": {"island": ["a", "b"], "bill_length": [1.0]}}, "columns of one"),
])
def test_bad_table_rows_get_400s(client, body, message):
    answer = client.post("/v1/models/table:predict", json=body)
    assert answer.status_code == 400 and message in answer.json()["error"], answer.text


def test_a_browser_uploads_a_digit_and_reads_the_class(server, exports, digits_x, tmp_path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium and chromium-driver are not installed (.ci/run installs "
                    "them)")
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = tmp_path / "digit.png"
    Image.fromarray(digits_x[3, :, :, 0].astype("uint8"), mode="L").save(image)
    wanted = predict_file(exports / "digits", image)
    wanted_class = wanted["class_names"][int(wanted["outputs"][0].argmax())]
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(server[1] + "/")
        section = driver.find_element(By.ID, "model-digits")
        assert "digit0, digit1" in section.text and "shape (batch, 8, 8, 1)" in section.text
        section.find_element(By.CSS_SELECTOR, "input.upload").send_keys(str(image))
        predicted = WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#model-digits .predicted, "
                                                       "#model-digits .error"))[0]
        assert predicted.get_attribute("class") == "predicted", predicted.text
        assert predicted.get_attribute("data-class") == wanted_class
        top = section.find_elements(By.CSS_SELECTOR, "ol.top li")
        assert len(top) == 5 and top[0].get_attribute("data-class") == wanted_class
        assert top[0].text.endswith(f"{100 * wanted['outputs'][0].max():.1f} %")
        # the model card: linked from the model's section, and it opens
        link = section.find_element(By.CSS_SELECTOR, "a.card")
        assert link.text == "Model card"
        driver.get(link.get_attribute("href"))
        card = driver.find_element(By.TAG_NAME, "body").text
        assert card.startswith("# Model card") and "digit9" in card
    finally:
        driver.quit()


def test_bodies_nested_beyond_any_request_are_refused_before_parsing(client):
    """Reliability round 3, item 11: small nested arrays cost ~50x their size to parse."""
    from kerakit.deploy.serving_body import check_nesting

    tiny_arrays = b'{"instances": [' + b",".join([b"[1]"] * 20000) + b"]}"
    answer = client.post("/v1/models/table:predict", content=tiny_arrays,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert "holds 20001 JSON arrays for 20000 values" in answer.json()["error"]
    vector = [{"name": "inputs", "shape": [None, 30], "dtype": "float32"}]
    with pytest.raises(DataError, match=r"Expected at most 1337\. Received: 20001"):
        check_nesting(tiny_arrays, vector)
    rows = json.dumps({"instances": np.zeros((200, 30)).tolist()}).encode()
    check_nesting(rows, vector)  # what a request for the model holds passes
    image = [{"name": "inputs", "shape": [None, 8, 8, 1], "dtype": "float32"}]
    check_nesting(json.dumps({"inputs": np.zeros((3, 8, 8, 1)).tolist()}).encode(), image)
    check_nesting(json.dumps({"instances": [{"inputs": np.zeros((8, 8, 1)).tolist()}]}).encode(),
                  image)
    shared = b'{"examples": [' + b",".join([b"{}"] * 20) + b'], "context": {"inputs": [1, 2]}}'
    check_nesting(shared, [{"name": "inputs", "shape": [None, 2], "dtype": "float32"}])
    objects = b'{"instances": [' + b",".join([b'{"inputs": 1}'] * 1000) + b"]}"
    with pytest.raises(DataError, match="JSON objects"):
        check_nesting(objects, vector)


def test_each_model_card_and_its_plot_are_served_and_nothing_else(client, exports):
    card = client.get("/models/digits/MODEL_CARD.md")
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/plain")
    assert card.text == (exports / "digits" / "MODEL_CARD.md").read_text()
    plot = client.get("/models/digits/curves.png")
    assert plot.status_code == 200 and plot.content[:8] == b"\x89PNG\r\n\x1a\n"
    for path in ("/models/digits/export_manifest.json", "/models/digits/saved_model.pb",
                 "/models/nothing/MODEL_CARD.md", "/models/digits/..%2F..%2Fetc%2Fpasswd"):
        assert client.get(path).status_code == 404, path


def test_sigterm_drains_requests_in_flight_then_exits(server, digits_x):
    """Last in the module: it stops the shared server."""
    proc, url = server
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps({"instances": digits_x[:2].tolist()}).encode()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:50])
        time.sleep(0.3)  # the request is in flight: headers and part of the body are in
        proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        while time.time() < deadline:  # the server stops accepting new connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                time.sleep(0.1)
            except OSError:
                break
        else:
            pytest.fail("the server still accepted connections 20 s after SIGTERM")
        assert proc.poll() is None  # still draining the request in flight
        conn.sendall(body[50:])
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), reply[:500]
    assert len(json.loads(payload)["predictions"]) == 2
    # uvicorn exits by re-raising the signal once drained, as a process killed by it would
    assert proc.wait(timeout=30) == -signal.SIGTERM


def test_a_one_column_text_table_is_served_as_a_table(tmp_path):
    from starlette.testclient import TestClient

    from kerakit.deploy.serving import create_app, open_models

    frame = pd.DataFrame({"island": ["Dream", "Biscoe"] * 50})
    frame["y"] = np.where(frame["island"] == "Dream", "a", "b")
    decl = kk.Model(kk.Input((None,)), [kk.use("dense_block", units=8)],
                    kk.use("classifier", classes=2), epochs=2)
    run = kk.fit(decl, frame, target="y", out=tmp_path / "run", verbose=0)
    client = TestClient(create_app(open_models({"m": kk.export(run, tmp_path / "e").path})))
    for body in ({"instances": [{"island": "Dream"}, {"island": "Biscoe"}]},
                 {"inputs": {"island": ["Dream", "Biscoe"]}}):
        answer = client.post("/v1/models/m:predict", json=body)
        assert answer.status_code == 200, answer.text
        assert np.asarray(next(iter(answer.json().values()))).shape == (2, 2)
    answer = client.post("/v1/models/m:predict", json={"instances": ["Dream"]})
    assert answer.status_code == 400 and "Expected an object of columns" in answer.text
