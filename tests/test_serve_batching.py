"""kerakit serve: concurrent requests batched into one signature call, and Prometheus metrics.

The exports are test_serve's (a trained digits model and a table model with a
text column), imported as its fixtures. One server, with the default batch
settings, serves them for the module; every answer is compared with the
export's signature called in this process on the request's own rows.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import numpy as np
import pytest
import tensorflow as tf
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from test_serve import digits_x, exports, start_server  # noqa: F401 (fixtures)

from kerakit.cli import main as cli_main
from kerakit.deploy.batching import Batcher
from kerakit.deploy.serving import create_app, serve
from kerakit.errors import UsageError

CLIENTS = 16
ISLANDS = ["Dream", "Biscoe", "Torgersen", "Atlantis"]  # Atlantis: unseen, the OOV bucket


@pytest.fixture(scope="module")
def server(exports):  # noqa: F811 (the fixture imported above)
    # "counted" is the digits export again, under a name only the counting test uses
    proc, url = start_server("--model", f"digits={exports / 'digits'}",
                             "--model", f"table={exports / 'table'}",
                             "--model", f"counted={exports / 'digits'}", model="digits")
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def signatures(exports):  # noqa: F811
    """The exports' signatures in this process: the unbatched answers."""
    loaded = {name: tf.saved_model.load(str(exports / name)) for name in ("digits", "table")}
    return loaded, {(name, s): fn for name, model in loaded.items()
                    for s, fn in model.signatures.items()}


def metric(text: str, sample: str, **labels: str) -> float:
    """One sample's value in a Prometheus text exposition (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def calls(url: str, model: str) -> tuple[float, float, float]:
    """Signature calls so far, those with more than one row, and their rows in all."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    count = metric(text, "kerakit_serve_batch_rows_count", model=model)
    single = metric(text, "kerakit_serve_batch_rows_bucket", model=model, le="1.0")
    return count, count - single, metric(text, "kerakit_serve_batch_rows_sum", model=model)


def digits_requests(x: np.ndarray) -> list[tuple[str, dict, str]]:
    """One row, in every format: (path, body, what to compare)."""
    row = x.tolist()
    return [("/v1/models/digits:predict", {"instances": row}, "predictions"),
            ("/v1/models/digits:predict", {"instances": [{"inputs": row[0]}]}, "predictions"),
            ("/v1/models/digits:predict", {"inputs": row}, "outputs"),
            ("/v1/models/digits:predict", {"signature_name": "classify", "instances": row},
             "rows"),
            ("/v1/models/digits:classify", {"examples": [{"inputs": row[0]}]}, "result")]


def table_requests(island: str, length: float) -> list[tuple[str, dict, str]]:
    row = {"island": island, "bill length": length}
    return [("/v1/models/table:predict", {"instances": [row]}, "predictions"),
            ("/v1/models/table:predict",
             {"inputs": {"island": [island], "bill_length": [length]}}, "outputs"),
            ("/v1/models/table:classify", {"examples": [{"bill length": length}],
                                           "context": {"island": island}}, "result")]


def expected(signatures, path: str, body: dict) -> dict:
    """The signature called in this process on exactly this request's rows."""
    model, verb = path.rsplit("/", 1)[1].split(":")
    name = body.get("signature_name", "classify" if verb == "classify" else "serving_default")
    if model == "digits":
        rows = body.get("instances") or body.get("inputs") or body.get("examples")
        rows = [r["inputs"] if isinstance(r, dict) else r for r in rows]
        inputs = {"inputs": tf.constant(rows, tf.float32)}
    else:
        columns = body.get("inputs", {})
        rows = body.get("instances") or body.get("examples") or [
            {"island": columns["island"][0], "bill length": columns["bill_length"][0]}]
        rows = [{**body.get("context", {}), **r} for r in rows]
        inputs = {"island": tf.constant([r["island"] for r in rows]),
                  "bill_length": tf.constant([r["bill length"] for r in rows], tf.float32)}
    return {k: v.numpy() for k, v in signatures[1][(model, name)](**inputs).items()}


def check_answer(answer: dict, want: dict, kind: str) -> None:
    """The served answer equals the unbatched one bit for bit.

    The TF CPU kernels gave identical outputs for these models whatever the batch
    size (1 to 64 rows, checked), and JSON carries float32 values exactly, so
    the comparison is exact.
    """
    if kind in ("predictions", "outputs"):
        np.testing.assert_array_equal(np.asarray(answer[kind], np.float64),
                                      next(iter(want.values())).astype(np.float64))
    elif kind == "rows":
        (row,) = answer["predictions"]
        np.testing.assert_array_equal(row["probabilities"], want["probabilities"][0])
        assert row["class_name"] == want["class_name"][0].decode()
    else:
        (pairs,) = answer["result"]
        assert [label for label, _ in pairs] == [c.decode() for c in want["class_names"][0]]
        np.testing.assert_array_equal([s for _, s in pairs], want["probabilities"][0])


def burst(url: str, jobs: list[list[tuple[str, dict, str]]]) -> list[list[httpx.Response]]:
    """Each list of requests from its own client thread, all threads starting together."""
    barrier, answers = threading.Barrier(len(jobs)), [[] for _ in jobs]

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            barrier.wait()
            for path, body, _ in jobs[i]:
                answers[i].append(c.post(path, json=body))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(server, signatures,
                                                                     digits_x):  # noqa: F811
    x = np.concatenate([digits_x] * 3)[:CLIENTS].astype(np.float32)
    before = {m: calls(server, m) for m in ("digits", "table")}
    jobs = [(digits_requests(x[i:i + 1]) + table_requests(ISLANDS[i % 4], 30.0 + i)) * 3
            for i in range(CLIENTS)]
    answers = burst(server, jobs)
    for job, got in zip(jobs, answers, strict=True):
        assert len(got) == len(job)
        for (path, body, kind), answer in zip(job, got, strict=True):
            assert answer.status_code == 200, answer.text
            check_answer(answer.json(), expected(signatures, path, body), kind)
    for model, per_client in (("digits", 15), ("table", 9)):
        count, several, rows = (a - b for a, b in
                                zip(calls(server, model), before[model], strict=True))
        assert rows == CLIENTS * per_client  # one row per request, each in one call
        assert several > 0 and count < rows, (model, count, several)  # really batched


def test_a_bad_request_in_a_batch_fails_alone(server, signatures, digits_x):  # noqa: F811
    x = digits_x.astype(np.float32)
    bad = [("/v1/models/digits:predict", {"instances": [[1.0] * 10]}, "Received: (1, 10)"),
           ("/v1/models/digits:predict", {"instances": [[[["x"]] * 8] * 8]}, "dtype <U1"),
           ("/v1/models/table:predict",
            {"instances": [{"island": "Dream", "bill length": "long"}]}, "expected numbers"),
           ("/v1/models/table:predict",
            {"instances": [{"island": "Dream", "bill length": 1e39}]}, "bill_length")]
    jobs = [[bad[i]] * 4 if i < len(bad) else
            (digits_requests(x[i % len(x):][:1]) + table_requests("Biscoe", 40.0 + i))
            for i in range(CLIENTS)]
    answers = burst(server, jobs)
    for job, got in zip(jobs, answers, strict=True):
        for (path, body, kind), answer in zip(job, got, strict=True):
            if job[0] in bad:
                assert answer.status_code == 400 and kind in answer.json()["error"]
            else:
                assert answer.status_code == 200, answer.text
                check_answer(answer.json(), expected(signatures, path, body), kind)


def test_metrics_count_requests_by_model_method_and_status(server, digits_x):  # noqa: F811
    good = {"instances": digits_x[:2].tolist()}
    model = "/v1/models/counted"
    with httpx.Client(base_url=server, timeout=30) as c:
        for _ in range(7):
            assert c.post(f"{model}:predict", json=good).status_code == 200
        assert c.post(f"{model}:predict", json={"instances": [[1.0] * 10]}).status_code == 400
        for _ in range(3):
            assert c.post(f"{model}:classify", json={
                "examples": [{"inputs": digits_x[0].tolist()}]}).status_code == 200
        assert c.get(model).status_code == 200 and c.get(f"{model}/metadata").status_code == 200
        assert c.get(f"{model}/versions/9").status_code == 404
    assert httpx.get(f"{server}/v1/models/nothing:predict").status_code == 404
    response = httpx.get(f"{server}/metrics")
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST  # the text format
    text = response.text
    total = "kerakit_serve_requests_total"
    assert metric(text, total, model="counted", method="predict", code="200") == 7
    assert metric(text, total, model="counted", method="predict", code="400") == 1
    assert metric(text, total, model="counted", method="classify", code="200") == 3
    assert metric(text, total, model="counted", method="status", code="200") == 1
    assert metric(text, total, model="counted", method="metadata", code="200") == 1
    assert metric(text, total, model="counted", method="status", code="404") == 1
    assert 'model="nothing"' not in text  # made-up names add no label values
    assert metric(text, "kerakit_serve_request_seconds_count", model="counted",
                  method="predict") == 8
    assert metric(text, "kerakit_serve_batch_rows_sum", model="counted") == 7 * 2 + 3
    for model in ("digits", "table", "counted"):
        assert 0 < metric(text, "kerakit_serve_model_load_seconds", model=model) < 60


@pytest.mark.parametrize("flag, value, message", [
    ("--max-batch", "0", "Expected an int >= 1. Received: 0"),
    ("--max-batch", "1.5", "Expected an int >= 1. Received: '1.5'"),
    ("--batch-timeout", "-0.001", "Expected a finite number of seconds, 0 or more. "
                                  "Received: '-0.001'"),
    ("--batch-timeout", "nan", "Received: 'nan'"),
    ("--batch-timeout", "inf", "Received: 'inf'"),
])
def test_bad_batch_settings_exit_2_before_anything_loads(exports, capsys, flag, value,  # noqa: F811
                                                         message):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["serve", str(exports / "digits"), flag, value])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert f"error: argument {flag}: Invalid value. Expected" in error and message in error


def test_bad_batch_settings_in_python_are_usage_errors(exports):  # noqa: F811
    with pytest.raises(UsageError, match=r"`max_batch`. Expected a positive integer .* "
                                         r"Received: max_batch=0"):
        serve({"digits": exports / "digits"}, port=0, max_batch=0)
    with pytest.raises(UsageError, match=r"Received: batch_timeout=-1"):
        create_app({}, batch_timeout=-1)
    with pytest.raises(UsageError, match=r"Received: max_batch=True"):
        create_app({}, max_batch=True)


def square_roots(seen: list[int], refused: float | None = None):
    """A signature stand-in on real arrays: square roots and each row's place in its call.

    Its first call takes 0.3 s, so the requests sent meanwhile queue up behind it
    and are batched together; a call holding ``refused`` raises.
    """
    def call(signature: str, arrays: dict) -> dict:
        seen.append(len(arrays["x"]))
        if len(seen) == 1:
            time.sleep(0.3)
        if refused is not None and (arrays["x"] == refused).any():
            raise ValueError(f"Invalid value {refused}")
        return {"y": np.sqrt(arrays["x"]), "place": np.arange(len(arrays["x"]))}

    return call


def run_together(batcher: Batcher, values: list[float]) -> list:
    """The first value alone, then the others from their own threads while it runs."""
    results: list = [None] * len(values)

    def one(i: int) -> None:
        try:
            results[i] = batcher.run("s", {"x": np.full((1, 2), values[i])})
        except ValueError as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(values))]
    threads[0].start()
    time.sleep(0.1)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_the_batcher_gives_each_request_its_own_rows():
    seen: list[int] = []
    rows: list[int] = []
    values = [4.0, 9.0, 16.0, 25.0, 36.0]
    results = run_together(Batcher(square_roots(seen), 8, 1.0, rows.append), values)
    assert seen == rows == [1, 4]  # the four sent while the first ran: one call
    for value, result in zip(values, results, strict=True):
        np.testing.assert_array_equal(result["y"], np.full((1, 2), np.sqrt(value)))
    assert sorted(int(r["place"][0]) for r in results[1:]) == [0, 1, 2, 3]


def test_a_request_the_batched_call_refuses_fails_alone():
    seen: list[int] = []
    rows: list[int] = []
    values = [4.0, 9.0, -1.0, 16.0]
    results = run_together(Batcher(square_roots(seen, refused=-1.0), 8, 1.0, rows.append),
                           values)
    assert seen == [1, 3, 1, 1, 1]  # the batch failed; each of its requests ran alone
    assert rows == [1, 1, 1]  # the calls answered: the failed batch and call are not counted
    assert isinstance(results[2], ValueError) and "Invalid value -1.0" in str(results[2])
    for i in (0, 1, 3):
        np.testing.assert_array_equal(results[i]["y"], np.full((1, 2), np.sqrt(values[i])))


def test_a_failing_call_reaches_every_waiting_request():
    calls: list[int] = []

    def broken(signature: str, arrays: dict) -> dict:
        calls.append(len(arrays["x"]))
        if len(calls) == 1:
            time.sleep(0.3)
        raise ValueError("the model is broken")

    batcher = Batcher(broken, 8, 1.0)
    results = run_together(batcher, [1.0] * 6)
    assert all(isinstance(r, ValueError) and "broken" in str(r) for r in results)
    assert calls[:2] == [1, 5]
    with pytest.raises(ValueError, match="broken"):  # and the batcher still answers after
        batcher.run("s", {"x": np.ones((1, 2))})


def test_max_batch_1_calls_once_per_request_and_big_requests_run_alone():
    seen: list[int] = []
    results = run_together(Batcher(square_roots(seen), 1, 1.0), [1.0, 4.0, 9.0])
    assert seen == [1, 1, 1] and all(isinstance(r, dict) for r in results)
    seen.clear()
    batcher = Batcher(square_roots(seen), 4, 1.0)
    assert batcher.run("s", {"x": np.ones((5, 2))})["y"].shape == (5, 2)
    assert seen == [5]


def test_workers_add_up_their_metrics_and_the_folder_goes_with_them(exports, digits_x,  # noqa: F811
                                                                     tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where serve() makes the metrics folder
    proc, url = start_server(str(exports / "digits"), "--name", "digits", "--workers", "2",
                             model="digits")
    try:
        (folder,) = tmp_path.glob("kerakit-serve-metrics-*")
        body = json.dumps({"instances": digits_x[:1].tolist()})
        for _ in range(12):  # a new connection each: the kernel spreads them over the workers
            assert httpx.post(f"{url}/v1/models/digits:predict", content=body,
                              timeout=30).status_code == 200
        texts = [httpx.get(f"{url}/metrics", timeout=30).text for _ in range(4)]
        for text in texts:  # whichever worker answers, it counts every worker's requests
            assert metric(text, "kerakit_serve_requests_total", model="digits",
                          method="predict", code="200") == 12
            assert metric(text, "kerakit_serve_model_load_seconds", model="digits") > 0
        assert len(list(folder.glob("*.db"))) >= 2  # one file per worker and kind at least
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not folder.exists()
