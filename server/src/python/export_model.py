# I²F Privacy Lint's export bridge, run by the workspace's own Python (server/src/python/exportModel.ts): imports
# `module:factory` from the workspace, builds the torch.nn.Module, and writes it as ONNX with BatchNorm kept as
# BatchNormalization and the parameters under their `named_parameters` names, so θ is what training shares and a
# state_dict / safetensors checkpoint applies to it by name. It never loads a checkpoint: weights are data, read
# and applied by the TypeScript side after the export.
#
# Usage: python -B export_model.py REQUEST_JSON. The request: {"root", "factory", "inputShape" (list or null),
# "args" ({"positional": [...], "keyword": {...}} of JSON values, or null), "out" (the .onnx to write), "result" (the
# JSON to write), "opset"}. The factory is `module:attr`, or `path/script-name.py:attr` for a standalone script whose
# name is not a module name (loaded from that file under root). sys.argv is [the module's file] while it is imported,
# so a top-level parse_args() sees the script's argparse defaults (the TypeScript side imports a script only when its
# top level cannot start training: server/src/pysource/importSafety.ts). The result JSON is written on success and on
# failure alike ({"ok": false, "error", "traceback"}); stdout and stderr are the user's code's own.

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import traceback
import types

HELPER_VERSION = 1

# Sizes tried, in order, when the config gives no input shape: MNIST-like 28, CIFAR-like 32, 64, ImageNet-like 224.
STANDARD_SIZES = (28, 32, 64, 224)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stands in for modules the interpreter does not have (flwr, flwr_datasets, datasets… in a Flower app's
    task.py), so a model whose file imports them can still be built. It sits LAST on sys.meta_path: every module the
    interpreter can really import is imported for real. Never for torch, nor for the workspace's own packages (a
    missing module there is a real error the user must see)."""

    def __init__(self, root, never):
        self.root = root + os.sep
        self.never = set(never)
        self.stubbed = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.never or not self._imported_by_workspace():
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def _imported_by_workspace(self):
        """Only the workspace's own import statements get stand-ins: libraries probe optional modules with
        try/except ImportError (torch imports msvcrt, torchvision accimage) and must keep seeing them missing."""
        frame = sys._getframe(1)
        while frame is not None:
            f = frame.f_code.co_filename
            if not f.startswith("<frozen importlib") and f != __file__:
                return os.path.abspath(f).startswith(self.root)
            frame = frame.f_back
        return False

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        top = module.__name__.split(".")[0]
        if top not in self.stubbed:
            self.stubbed.append(top)


class _StubModule(types.ModuleType):
    def __init__(self, name):
        super().__init__(name)
        self.__path__ = []
        self.__all__ = []

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self.__name__}.{attr}")


class _Stub:
    """A permissive stand-in for anything taken from a stubbed module: attributes and calls give more stubs, a
    decorator leaves the function it decorates as it is, and a class may derive from it."""

    def __init__(self, name):
        object.__setattr__(self, "_stub_name", name)

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self._stub_name}.{attr}")

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], (types.FunctionType, type)):
            return args[0]
        return _Stub(f"{self._stub_name}()")

    def __mro_entries__(self, bases):
        stub_name = self._stub_name

        def __init__(self, *a, **k):
            pass

        def __getattr__(self, attr):
            if attr.startswith("__") and attr.endswith("__"):
                raise AttributeError(attr)
            return _Stub(f"{stub_name}.{attr}")

        # _i2f_stood_in_for: the bridge names the missing package when a model class derives from this stand-in.
        return (type(stub_name.split(".")[-1], (), {"__init__": __init__, "__getattr__": __getattr__, "_i2f_stood_in_for": stub_name}),)

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __getitem__(self, key):
        return _Stub(f"{self._stub_name}[]")

    def __repr__(self):
        return f"<stand-in for {self._stub_name}>"


def _workspace_tops(root):
    """Top-level module and package names defined in the workspace root (never stubbed)."""
    tops = set()
    try:
        for entry in os.listdir(root):
            if entry.endswith(".py"):
                tops.add(entry[:-3])
            elif os.path.isdir(os.path.join(root, entry)) and entry.isidentifier():
                tops.add(entry)
    except OSError:
        pass
    return tops


def _import(module_name, root):
    """The module, imported with sys.argv = [its file] (what `python its_file.py` would give its top level)."""
    if module_name.endswith(".py"):
        path = os.path.abspath(os.path.join(root, module_name))
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            raise FileNotFoundError(f"{module_name} is not a file under {root}")
        name = os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.argv = [path]
        sys.modules[name] = module  # as an import would: dataclasses and pickling look the module up by name
        spec.loader.exec_module(module)
        return module
    try:
        spec = importlib.util.find_spec(module_name)
        origin = spec.origin if spec is not None and spec.origin else module_name
    except (ImportError, ValueError):
        origin = module_name
    sys.argv = [origin]
    return importlib.import_module(module_name)


def _resolve(factory, root):
    module_name, _, attr_path = factory.partition(":")
    if not module_name or not attr_path:
        raise ValueError(f"'{factory}' is not of the form module:Factory (e.g. pkg.task:Net)")
    obj = _import(module_name, root)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


def _first_layer(model, torch):
    nn = torch.nn
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return ("conv", m.in_channels, m.weight.dim() - 2)
        if isinstance(m, nn.Linear):
            return ("linear", m.in_features, 0)
        if isinstance(m, nn.Embedding):
            return ("embedding", m.num_embeddings, 0)
    return None


def _candidate_shapes(model, torch):
    first = _first_layer(model, torch)
    if first is None:
        return [], "the model has no Conv or Linear layer to read the input channels from"
    kind, n, spatial = first
    if kind == "conv":
        if spatial == 2:
            return [[n, s, s] for s in STANDARD_SIZES], f"first layer Conv2d with {n} input channels"
        if spatial == 1:
            return [[n, s] for s in (28, 32, 64, 128, 224, 256)], f"first layer Conv1d with {n} input channels"
        return [[n, s, s, s] for s in (16, 28, 32)], f"first layer Conv3d with {n} input channels"
    if kind == "linear":
        shapes = []
        for c in (1, 3):
            for s in STANDARD_SIZES:
                if c * s * s == n:
                    shapes.append([c, s, s])
        shapes.append([n])
        return shapes, f"first layer Linear with {n} input features"
    return [], "the model starts with an Embedding (token ids): give i2f: input-shape"


def _runs(model, torch, shape):
    """The forward pass runs on a batch of 2 of this shape and keeps the batch dimension."""
    x = torch.rand(2, *shape)
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as e:  # noqa: BLE001: any failure means "not this shape"
        return False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if not isinstance(y, torch.Tensor):
        return False, f"the forward pass returned {type(y).__name__}, not a tensor"
    if y.dim() < 1 or y.shape[0] != 2:
        return False, f"the output {tuple(y.shape)} lost the batch dimension"
    return True, ""


def _export(model, torch, x, out, opset):
    kwargs = dict(
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        # No constant folding and TrainingMode.PRESERVE on an eval() model: the exporter's eval peephole (which
        # folds BatchNorm into Conv and renames the weights onnx::Conv_…) does not run, so initialisers keep the
        # parameter names and BatchNormalization stays a node with its running statistics.
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
        export_params=True,
        keep_initializers_as_inputs=False,
    )
    params = inspect.signature(torch.onnx.export).parameters
    if "dynamo" in params:
        kwargs["dynamo"] = False  # torch ≥ 2.9 defaults to the dynamo exporter, whose names and ops differ
    torch.onnx.export(model, (x,), out, **kwargs)


def run(req, result):
    root = os.path.abspath(req["root"])
    sys.path.insert(0, root)
    import torch

    finder = _StubFinder(root, {"torch"} | _workspace_tops(root))
    sys.meta_path.append(finder)
    result["stubbed"] = finder.stubbed

    result["torchVersion"] = torch.__version__.split("+")[0]
    torch.manual_seed(0)  # the weights at initialisation are then the same on every export (cache, reproducibility)

    result["stage"] = "import"
    obj = _resolve(req["factory"], root)
    result["stage"] = "build"
    args = req.get("args") or {}
    positional, keyword = list(args.get("positional") or []), dict(args.get("keyword") or {})
    if isinstance(obj, torch.nn.Module) and not positional and not keyword:
        model = obj
    elif callable(obj):
        model = obj(*positional, **keyword)
    else:
        raise TypeError(f"{req['factory']} is a {type(obj).__name__}, neither a torch.nn.Module nor a callable that builds one")
    if not isinstance(model, torch.nn.Module):
        stood_in = next((c._i2f_stood_in_for for c in type(model).__mro__ if "_i2f_stood_in_for" in vars(c)), None)
        if stood_in:
            raise TypeError(
                f"{req['factory']} derives from {stood_in}, which this Python lacks ({stood_in.split('.')[0]} was stood in for), "
                f"so it is not a torch.nn.Module here: install {stood_in.split('.')[0]} in the Python that builds the model"
            )
        raise TypeError(f"{req['factory']}() returned {type(model).__module__}.{type(model).__name__}, not a torch.nn.Module")
    model = model.float().eval()

    result["stage"] = "input-shape"
    shape = req.get("inputShape")
    if shape:
        ok, why = _runs(model, torch, shape)
        if not ok:
            raise ValueError(f"the forward pass fails on input shape {shape} (from the config): {why}")
        result["inputShapeSource"] = "config"
    else:
        candidates, basis = _candidate_shapes(model, torch)
        tried = []
        for c in candidates:
            ok, why = _runs(model, torch, c)
            if ok:
                shape = c
                break
            tried.append({"shape": c, "error": why})
        result["inferredFrom"] = basis
        result["tried"] = tried
        if not shape:
            raise ValueError(f"could not infer the input shape ({basis}; tried {', '.join(str(t['shape']) for t in tried) or 'nothing'}): set i2f: input-shape")
        result["inputShapeSource"] = "inferred"
    result["inputShape"] = list(shape)

    result["stage"] = "export"
    _export(model, torch, torch.rand(1, *shape), req["out"], int(req.get("opset", 13)))
    result["parameters"] = [[n, list(p.shape)] for n, p in model.named_parameters()]
    result["buffers"] = [n for n, _ in model.named_buffers()]
    result["modelClass"] = f"{type(model).__module__}.{type(model).__qualname__}"
    # The workspace files the import read: the cache is keyed by their contents.
    files = set()
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if f and os.path.abspath(f).startswith(root + os.sep) and f.endswith(".py"):
            files.add(os.path.abspath(f))
    result["sources"] = sorted(files)
    result["ok"] = True


def main():
    req = json.loads(sys.argv[1])
    result = {"ok": False, "helperVersion": HELPER_VERSION, "python": sys.executable, "stage": "start"}
    try:
        run(req, result)
    except BaseException as e:  # noqa: BLE001: every failure is reported, with its traceback
        result["ok"] = False
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    tmp = req["result"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, req["result"])
    sys.stdout.flush()
    sys.stderr.flush()
    # The user's code may have started threads (data loaders) that would keep the interpreter alive.
    os._exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
