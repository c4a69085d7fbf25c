"""convergy: per-layer energy and latency prediction of ConvNet inference (SyNERGY method).

    import convergy
    model = convergy.Model.load("nano.json")
    net = convergy.load("resnet50")                  # zoo name, .prototxt/.onnx path, prototxt text or ONNX bytes
    print(model.predict(net).predicted, net.totals["macs"])
    best = min(texts, key=...)                       # model.predict(list) scores a whole list on every core

Errors are raised as convergy.BadInputError (a ValueError) for bad input and convergy.Error (a RuntimeError)
otherwise, with the same one-line message as the command-line tool.
"""
import io
import os

from . import _convergy
from ._convergy import BadInputError, Error, Network, feature_names, heap_settings, nb201_prototxt

__all__ = ["load", "Model", "Prediction", "Network", "BadInputError", "Error", "from_torch", "feature_names",
           "heap_settings", "nb201_prototxt", "layers_array"]


def load(source, name=""):
    """A Network from a path (.prototxt/.onnx), a zoo name, prototxt text (str) or ONNX bytes.

    The graph passes (dead layers, Dropout, BatchNorm folding, activation fusion) are applied, as for
    `convergy predict`; `.layers` lists the features of every executed layer and `.totals` the sums.
    """
    return _convergy.load(source, name)


def layers_array(network):
    """The features of every layer of `network` as a numpy structured array (one record per layer)."""
    import numpy as np

    names = feature_names()
    dtype = [("name", object), ("type", object), ("class", object)] + [
        (f, np.float64 if f == "depthwise" else np.int64) for f in names]
    rows = [tuple([l["name"], l["type"], l["class"]] + [l[f] for f in names]) for l in network.layers]
    return np.array(rows, dtype=dtype)


Network.layers_array = property(layers_array, doc=layers_array.__doc__)


class Prediction:
    """The prediction of one network: `predicted`, the calibrated interval `lower`/`upper` (None when the
    model has none), the per-layer breakdown `layers` (dicts with name, group, predicted; None when predict
    was asked for totals only), and the model's
    flags on what it could not predict (`unmodelled_groups`: layer groups without a sub-model, not counted;
    `extrapolation`: one line for each way the network leaves the model's training domain, None for a model
    file without a domain; `interval_widening`: the factor the interval was widened by for it;
    `interval_basis`: "networks", "layers" or "networks+layers", what the interval was calibrated on, None
    without one; `outside_domain_predicted`: the part of `predicted` carried by layers outside the training
    domain, whose share of the interval is calibrated on layers under "networks+layers").
    Every field of the C++ NetworkPrediction is an attribute; `as_dict()` gives them all."""

    __slots__ = ("_core",)

    # The fields live in the C++ result and become Python objects when read: a list of predictions costs
    # no per-layer dicts until `layers` is asked for.
    _FIELDS = ("predicted", "lower", "upper", "network_terms", "unmodelled_groups", "extrapolation",
               "interval_widening", "interval_basis", "outside_domain_predicted", "layers", "target", "unit",
               "model")

    def __init__(self, core):
        self._core = core

    def __getattr__(self, key):
        if key in Prediction._FIELDS:
            return getattr(self._core, key)
        raise AttributeError(key)

    def as_dict(self):
        return self._core.as_dict()

    def __repr__(self):
        c = self._core
        interval = "" if c.lower is None else f" [{c.lower:.6g}, {c.upper:.6g}]"
        return f"<convergy.Prediction {c.predicted:.6g} {c.unit}{interval}>"


class Model:
    """A fitted model (the JSON `convergy fit` writes)."""

    def __init__(self, core):
        self._core = core

    @staticmethod
    def load(json_path_or_text):
        """From a model JSON file, or from the JSON text itself."""
        if isinstance(json_path_or_text, os.PathLike):
            json_path_or_text = os.fspath(json_path_or_text)
        if json_path_or_text.lstrip().startswith("{"):
            return Model(_convergy.Model.from_json(json_path_or_text))
        return Model(_convergy.Model.from_file(json_path_or_text))

    @staticmethod
    def fit(rows_or_csv_path, target="energy_mj", features="transfer", method="", coverage=0.9, seed=1):
        """Fits as `convergy fit` does, from a measurement CSV path or from rows: dicts (or a list of
        dicts) with the CSV's columns, e.g. {"network": "nets/a.prototxt", "energy_mj": 12.5}."""
        if isinstance(rows_or_csv_path, (str, os.PathLike)):
            core = _convergy.Model.fit("", os.fspath(rows_or_csv_path), target, features, method, coverage, seed)
        else:
            core = _convergy.Model.fit(_rows_to_csv(rows_or_csv_path), "<rows>", target, features, method,
                                       coverage, seed)
        return Model(core)

    def predict(self, networks, threads=0, layers=True):
        """The Prediction of one network, or a list of Predictions for a list (or other iterable) of them, in
        order. Items are Networks or anything load() takes; a list is imported and predicted without the
        GIL on `threads` threads (0: every core). `layers=False` keeps totals, intervals and flags only
        (`layers` is then None): a search over many candidates holds about 80 bytes less per layer each."""
        if isinstance(networks, Network):
            if not layers:
                return Prediction(self._core.predict_many([networks], 1, False)[0])
            return Prediction(self._core.predict_one(networks))
        if isinstance(networks, (str, bytes, os.PathLike)):
            return Prediction(self._core.predict_many([networks], 1, layers)[0])
        return [Prediction(d) for d in self._core.predict_many(list(networks), threads, layers)]

    def save(self, path):
        self._core.save(os.fspath(path))

    def to_json(self):
        return self._core.to_json()

    id = property(lambda self: self._core.id, doc="<feature_set>/<method>@<data digest>")
    target = property(lambda self: self._core.target)
    unit = property(lambda self: self._core.unit)
    complexity = property(lambda self: self._core.complexity, doc="non-zero coefficients")

    def __repr__(self):
        return f"<convergy.Model {self.id} ({self.target}, {self.unit})>"


def _rows_to_csv(rows):
    rows = list(rows)
    if not rows:
        raise BadInputError("<rows>: no rows, expected at least one dict of CSV columns")
    header = []
    for r in rows:
        for k in r:
            if k not in header:
                header.append(k)

    def cell(v):
        s = "" if v is None else repr(v) if isinstance(v, float) else str(v)
        return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n') else s

    out = io.StringIO()
    out.write(",".join(cell(h) for h in header) + "\n")
    for r in rows:
        out.write(",".join(cell(r.get(h)) for h in header) + "\n")
    return out.getvalue()


def from_torch(module, input_shape, name=None):
    """A Network from a torch.nn.Module, exported through torch.onnx into memory (needs PyTorch)."""
    try:
        import torch
    except ImportError as e:
        raise Error("from_torch needs PyTorch (Debian: python3-torch), which is not installed") from e
    buf = io.BytesIO()
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            torch.onnx.export(module, torch.zeros(*input_shape), buf, input_names=["input"],
                              output_names=["output"], opset_version=13)
    finally:
        module.train(was_training)
    return load(buf.getvalue(), name or f"<torch {type(module).__name__}>")
