"""Tests of the Python package convergy (run by ctest as `python`; needs PYTHONPATH=build/python and the
CONVERGY_* variables tests/CMakeLists.txt sets)."""
import json
import os
import subprocess
import sys

import pytest

import convergy

CLI = os.environ["CONVERGY_CLI"]
SOURCE = os.environ["CONVERGY_SOURCE_DIR"]
NANO = os.path.join(os.environ["CONVERGY_SHARED_DATA"], "jetson-nano")
TINY = os.path.join(SOURCE, "tests", "cli", "data", "tiny.prototxt")
BAD_GROUP = os.path.join(SOURCE, "tests", "cli", "data", "bad_group.prototxt")


def nano_rows(step):
    with open(os.path.join(NANO, "networks.csv")) as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1::step]]
    return [{"network": os.path.join(NANO, r["network"]), "energy_mj": r["energy_mj"]} for r in rows]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A model fitted by the CLI on every 100th Nano network (the reference the Python side must match)."""
    out = tmp_path_factory.mktemp("model")
    csv = out / "train.csv"
    csv.write_text("network,energy_mj\n" + "".join(f"{r['network']},{r['energy_mj']}\n" for r in nano_rows(100)))
    path = out / "model.json"
    subprocess.run([CLI, "fit", "--measurements", str(csv), "--target", "energy_mj", "--features", "macs+mem",
                    "--out", str(path)], check=True, capture_output=True)
    return path


def cli_predict(model_path, *nets):
    r = subprocess.run([CLI, "predict", "--model", str(model_path), "--format", "json", *nets],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def cli_error(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    assert r.returncode == 2, r
    return r.stderr.strip()


def test_load_zoo_network_features_and_totals():
    net = convergy.load("resnet50")
    assert net.name == "resnet50"
    assert len(net.layers) == len(net)
    conv1 = net.layers[0]
    assert (conv1["name"], conv1["type"], conv1["class"]) == ("conv1", "Convolution", "conv")
    assert conv1["macs"] == 118013952  # 64 x 112 x 112 outputs x 3 x 7 x 7
    # Every feature and total as `convergy info` reports them.
    r = subprocess.run([CLI, "info", "resnet50", "--format", "json"], check=True, capture_output=True, text=True)
    info = json.loads(r.stdout)
    for key, value in net.totals.items():
        assert info["totals"][key] == value, key
    assert len(info["layers"]) == len(net.layers)
    for mine, cli in zip(net.layers, info["layers"]):
        for key, value in mine.items():
            assert cli[key] == value, (mine["name"], key)


def test_layers_as_numpy_structured_array():
    np = pytest.importorskip("numpy")
    net = convergy.load("resnet18")
    a = net.layers_array
    assert len(a) == len(net.layers)
    assert a["macs"].dtype == np.int64
    assert int(a["macs"].sum()) == net.totals["macs"]
    assert list(a["name"]) == [l["name"] for l in net.layers]


def test_load_text_path_and_bytes_agree():
    with open(TINY) as f:
        text = f.read()
    from_path = convergy.load(TINY)
    from_text = convergy.load(text)
    assert from_text.layers == from_path.layers
    with pytest.raises(convergy.BadInputError):
        convergy.load(text.encode())  # bytes are ONNX; prototxt bytes are not a model


def test_bad_input_raises_value_error_with_the_cli_message():
    with pytest.raises(ValueError) as e:
        convergy.load(BAD_GROUP)
    assert isinstance(e.value, convergy.BadInputError)
    assert str(e.value) == cli_error("info", BAD_GROUP).removeprefix("convergy: error: ")


def test_bad_prototxt_text_names_the_place():
    with pytest.raises(convergy.BadInputError, match=r"^<prototxt text>:2:\d+: "):
        convergy.load('name: "x"\nlayer { name: "a" type: "Nonsense" }\n')


def test_bad_model_json_raises():
    with pytest.raises(convergy.BadInputError, match="model json"):
        convergy.Model.load("{ not json")


def test_predictions_identical_to_the_cli(model_path):
    model = convergy.Model.load(str(model_path))
    nets = ["resnet50", "mobilenet_v2", TINY, os.path.join(NANO, "nets", "convnet_L2_F128_K4x4_W90.prototxt"),
            "mobilenet_v2@1x3x160x160",  # NAME@SHAPE: the network at another input size
            "resnet50@classes=10"]  # ... and with another number of classes
    expected = cli_predict(model_path, *nets)
    got = model.predict(nets)
    assert len(got) == len(expected)
    for p, e in zip(got, expected):
        assert p.predicted == e["predicted"]
        assert p.lower == e["lower"] and p.upper == e["upper"]
        assert p.model == e["model"]
        assert p.unmodelled_groups == e["unmodelled_groups"]
        assert p.extrapolation == e["extrapolation"]
        assert p.interval_widening == e["interval_widening"]
        assert p.outside_domain_predicted == e["outside_domain_predicted"]
        assert p.interval_basis == e["interval_basis"] == "networks"  # a whole-network model
        layers = [{"name": l["name"], "type": l["group"], "predicted": l["predicted"]} for l in p.layers
                  if l["group"] != "none"]
        assert layers == e["layers"]
    assert got[4].predicted != got[1].predicted  # the network at 160x160 is another network
    assert convergy.load("mobilenet_v2@1x3x160x160").layers[0]["out_h"] == 80
    assert got[5].predicted < got[0].predicted  # a 2048 x 10 classifier instead of 2048 x 1000
    ten = convergy.load("resnet18@classes=10")
    assert ten.layers[-2]["name"] == "fc" and ten.layers[-2]["out_c"] == 10 and ten.layers[-2]["params"] == 5130
    # One network at a time, from a loaded Network, gives the same numbers.
    assert model.predict(convergy.load("resnet50")).predicted == expected[0]["predicted"]


def test_a_model_without_a_domain_says_unknown_not_inside(model_path, tmp_path):
    # A format 1.0 file has no training domain: nothing is checked, so the finding is missing (None / null),
    # not an empty list that would read as "inside the domain".
    j = json.loads(model_path.read_text())
    assert isinstance(convergy.Model.load(str(model_path)).predict(TINY).extrapolation, list)
    del j["domain"]
    j["format_version"] = "1.0"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(j))
    p = convergy.Model.load(str(old)).predict(TINY)
    assert p.predicted > 0
    assert p.extrapolation is None
    assert p.as_dict()["extrapolation"] is None
    assert cli_predict(old, TINY)[0]["extrapolation"] is None


def test_list_order_kept_and_threads_agree(model_path):
    model = convergy.Model.load(model_path.read_text())  # JSON text works as well as a path
    texts = [convergy.nb201_prototxt(i) for i in range(64)]
    one = [p.predicted for p in model.predict(texts, threads=1)]
    two = [p.predicted for p in model.predict(texts, threads=2)]
    assert one == two
    assert one == [model.predict(t).predicted for t in texts]
    assert len(set(one)) > 1  # the candidates differ
    # Totals only: the same numbers and flags, and no breakdown (None: not kept, rather than empty).
    full = model.predict(texts, threads=2)
    bare = model.predict(texts, threads=2, layers=False)
    assert [p.predicted for p in bare] == one
    assert [(p.lower, p.upper, p.extrapolation) for p in bare] == [(p.lower, p.upper, p.extrapolation) for p in full]
    assert all(p.layers is None for p in bare) and all(len(p.layers) > 0 for p in full)
    assert model.predict(texts[0], layers=False).layers is None
    assert model.predict(convergy.load(texts[0]), layers=False).predicted == one[0]


def test_error_in_a_list_is_the_first_bad_network(model_path):
    model = convergy.Model.load(str(model_path))
    items = ["resnet18", BAD_GROUP, "no_such_network"]
    with pytest.raises(convergy.BadInputError) as e:
        model.predict(items)
    assert str(e.value) == cli_error("info", BAD_GROUP).removeprefix("convergy: error: ")


def test_fit_from_rows_matches_the_cli_fit(model_path):
    fitted = convergy.Model.fit(nano_rows(100), target="energy_mj", features="macs+mem")
    cli_model = convergy.Model.load(str(model_path))
    # Same data and options; the digest differs only because the CSV text does.
    assert fitted.complexity == cli_model.complexity
    a, b = fitted.predict("resnet50"), cli_model.predict("resnet50")
    assert a.predicted == pytest.approx(b.predicted, rel=1e-9)


def test_from_torch():
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))
    net = convergy.from_torch(module, (1, 3, 32, 32))
    assert net.totals["macs"] == 8 * 32 * 32 * 3 * 9 + 8 * 10
    assert net.layers[0]["type"] == "Convolution"


def test_example_scores_candidates(model_path):
    r = subprocess.run([sys.executable, os.path.join(SOURCE, "examples", "score_candidates.py"), "--model",
                        str(model_path), "--count", "1000"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("scored 1000 candidates with ")
    assert "best: candidate " in r.stdout


def test_example_default_model_crowns_a_positive_energy_with_an_interval():
    """Without --model the example fits the `transfer` default on the Nano networks, which never had pooling or
    element-wise layers: the winner must still cost something, carry an interval, and be flagged as outside the
    training data (a `macs+mem` fit predicts negative energy for some candidates)."""
    r = subprocess.run([sys.executable, os.path.join(SOURCE, "examples", "score_candidates.py"), "--shared-data",
                        os.environ["CONVERGY_SHARED_DATA"]], capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("scored 1000 candidates with transfer/"), r.stdout
    best = lines[1].split()
    assert best[:2] == ["best:", "candidate"] and float(best[3]) > 0 and best[4] == "mJ", r.stdout
    assert "(interval " in lines[1], r.stdout
    assert lines[2].startswith("outside the training data ("), r.stdout


def test_heap_settings_at_import_and_the_opt_out():
    """Importing convergy keeps freed memory in glibc's heap (util/heap.h); CONVERGY_MALLOC_DEFAULTS=1 before the
    import leaves the process's malloc as it was."""
    code = "import json, convergy; print(json.dumps(convergy.heap_settings()))"

    def settings(**extra):
        env = {k: v for k, v in os.environ.items() if k != "CONVERGY_MALLOC_DEFAULTS"}
        env.update(extra)
        r = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
        return json.loads(r.stdout)

    assert settings(CONVERGY_MALLOC_DEFAULTS="1") == {
        "applied": False, "detail": "glibc malloc defaults kept (CONVERGY_MALLOC_DEFAULTS=1)"}
    on = settings()
    if on["applied"]:
        assert on["detail"] == "glibc malloc: trim threshold 128 MB, mmap threshold 32 MB"
    else:  # a sanitizer's allocator, or not glibc
        assert "defaults kept" in on["detail"], on
    assert convergy.heap_settings()["applied"] == on["applied"]
