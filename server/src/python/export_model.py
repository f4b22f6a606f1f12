# I²F Privacy Lint's export bridge, run by the workspace's own Python (server/src/python/exportModel.ts): imports
# `module:factory` from the workspace, builds the torch.nn.Module, and writes it as ONNX with BatchNorm kept as
# BatchNormalization and the parameters under their `named_parameters` names, so θ is what training shares and a
# state_dict / safetensors checkpoint applies to it by name. It never loads a checkpoint a config names: weights are
# data, read and applied by the TypeScript side after the export. Pretrained weights the model's own code asks
# torch.hub for (torchvision's `vit_b_16(weights=…)`) are never downloaded: read from the torch hub cache with
# torch.load(weights_only=True) (tensors only, no code runs) when the file is there, else the layers they would fill
# stay at initialisation; the result lists each ("pretrained"). Parameters the code leaves with requires_grad False
# are listed too ("frozen"): training shares no gradient of theirs.
#
# Usage: python -B export_model.py REQUEST_JSON. The request: {"root", "factory", "inputShape" (list or null),
# "args" ({"positional": [...], "keyword": {...}} of JSON values, or null), "out" (the .onnx to write), "result" (the
# JSON to write), "opset"}. The factory is `module:attr`, or `path/script-name.py:attr` for a standalone script whose
# name is not a module name (loaded from that file under root). sys.argv is [the module's file] while it is imported,
# so a top-level parse_args() sees the script's argparse defaults (the TypeScript side imports a script only when its
# top level cannot start training: server/src/pysource/importSafety.ts). "generated" (optional) lists modules the
# TypeScript side wrote outside root that may be loaded by path as if they were under it: the definitions of a Jupyter
# notebook (server/src/pysource/notebookModule.ts), whose imports get stand-ins as the workspace's own. The result JSON is written on success and on
# failure alike ({"ok": false, "error", "traceback"}); stdout and stderr are the user's code's own.

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import os
import re
import sys
import traceback
import types

HELPER_VERSION = 2

# Sizes tried, in order, when the config gives no input shape: MNIST-like 28, CIFAR-like 32, 64, ImageNet-like 224.
STANDARD_SIZES = (28, 32, 64, 224)


# What the stand-ins did, for the result: the modules and names stood in for (in order), and those the model touched
# while it was built, run and exported (a model that needs a missing piece fails; the error then names it).
_STAND_INS = {"stubbed": [], "used": [], "watching": False}


def _record_use(name):
    name = name.split("(")[0].split("[")[0]  # what a stand-in's call or item gave is the stand-in's own use
    if _STAND_INS["watching"] and name not in _STAND_INS["used"]:
        _STAND_INS["used"].append(name)


def _record_stand_in(name):
    if name not in _STAND_INS["stubbed"]:
        _STAND_INS["stubbed"].append(name)


def _stood_in_for(name):
    """The recorded stand-in that covers `name` ('torch.func' for 'torch.func.vmap', 'opacus' for 'opacus.x.Y')."""
    return next((s for s in _STAND_INS["stubbed"] if name == s or name.startswith(s + ".")), name.split(".")[0])


def _imported_by_workspace(root, depth=2):
    """Only the workspace's own import statements get stand-ins: libraries probe optional modules with try/except
    ImportError (torch imports msvcrt, torchvision accimage) and must keep seeing them missing."""
    frame = sys._getframe(depth)
    while frame is not None:
        f = frame.f_code.co_filename
        if not f.startswith("<frozen importlib") and f != __file__:
            return os.path.abspath(f).startswith(root) or os.path.abspath(f) in _GENERATED
        frame = frame.f_back
    return False


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stands in for modules the interpreter does not have, so a model whose file imports them can still be built:
    whole packages (flwr, flwr_datasets, datasets… in a Flower app's task.py; opacus, tqdm in a script) and the
    submodules an installed package lacks in this version (torch.func in torch 1.13, which a script written for
    torch ≥ 2.0 imports at its top). It sits LAST on sys.meta_path: every module the interpreter can really import is
    imported for real. Never for torch itself, nor for the workspace's own packages (a missing module there is a
    real error the user must see)."""

    def __init__(self, root, never):
        self.root = root + os.sep
        self.never = set(never)

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.split(".")[0] in self.never or not _imported_by_workspace(self.root):
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        # A module of a missing package is recorded as the package (opacus.distributed → opacus); a missing
        # submodule of an installed package by its own name (torch.func).
        parts = module.__name__.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if i == len(parts) or isinstance(sys.modules.get(prefix), _StubModule):
                _record_stand_in(prefix)
                break


class _WithStandIns:
    """What `from installed.module import a, missing` sees in place of the module: its own attributes, and a stand-in
    for each name this version lacks (torch.optim.lr_scheduler.LRScheduler is torch ≥ 2.0). Only that statement sees
    it: sys.modules and the module itself are unchanged, so libraries probing with hasattr see the truth."""

    def __init__(self, module, missing):
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_missing", set(missing))

    def __getattr__(self, attr):
        if attr in self._missing:
            return _Stub(f"{self._module.__name__}.{attr}")
        return getattr(self._module, attr)


def _standing_in_import(real_import, root, never):
    """builtins.__import__ that gives a workspace's `from M import name` a stand-in for a name installed M lacks."""

    def __import__(name, globals=None, locals=None, fromlist=(), level=0):
        module = real_import(name, globals, locals, fromlist, level)
        if not fromlist or isinstance(module, _StubModule) or not isinstance(module, types.ModuleType):
            return module
        modname = getattr(module, "__name__", "")
        if modname.split(".")[0] in never or not _imported_by_workspace(root):
            return module
        missing = [n for n in fromlist if n != "*" and not hasattr(module, n)]
        if not missing:
            return module
        for n in missing:
            _record_stand_in(f"{modname}.{n}")
        return _WithStandIns(module, missing)

    return __import__


def _stub_call(name, args, kwargs):
    # A decorator leaves what it decorates as it is; any other call gives another stand-in.
    if len(args) == 1 and not kwargs and isinstance(args[0], (types.FunctionType, type)):
        return args[0]
    return _Stub(f"{name}()")


class _StubModule(types.ModuleType):
    def __init__(self, name):
        super().__init__(name)
        self.__path__ = []
        self.__all__ = []

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self.__name__}.{attr}")

    # `from torch.nn.utils import missing_fn` on a package imports the name as a submodule: this module then stands
    # for a function or class, and is called or derived from like one.
    def __call__(self, *args, **kwargs):
        _record_use(self.__name__)
        return _stub_call(self.__name__, args, kwargs)

    def __mro_entries__(self, bases):
        return _Stub(self.__name__).__mro_entries__(bases)


class _Stub:
    """A permissive stand-in for anything taken from a stubbed module: attributes and calls give more stubs, a
    decorator leaves the function it decorates as it is, and a class may derive from it."""

    def __init__(self, name):
        object.__setattr__(self, "_stub_name", name)

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        _record_use(self._stub_name)
        return _Stub(f"{self._stub_name}.{attr}")

    def __call__(self, *args, **kwargs):
        _record_use(self._stub_name)
        return _stub_call(self._stub_name, args, kwargs)

    def __mro_entries__(self, bases):
        stub_name = self._stub_name
        if stub_name in _LIGHTNING_MODULES:
            return (_lightning_module(stub_name),)

        def __init__(self, *a, **k):
            pass

        def __getattr__(self, attr):
            if attr.startswith("__") and attr.endswith("__"):
                raise AttributeError(attr)
            return _Stub(f"{stub_name}.{attr}")

        # _i2f_stood_in_for: the bridge names the missing package when a model class derives from this stand-in.
        return (type(stub_name.split(".")[-1], (), {"__init__": __init__, "__getattr__": __getattr__, "_i2f_stood_in_for": stub_name}),)

    def __iter__(self):
        _record_use(self._stub_name)
        return iter(())

    def __len__(self):
        _record_use(self._stub_name)
        return 0

    def __getitem__(self, key):
        _record_use(self._stub_name)
        return _Stub(f"{self._stub_name}[]")

    def __repr__(self):
        return f"<stand-in for {self._stub_name}>"


# The names a LightningModule is imported by. A LightningModule is a torch.nn.Module whose forward is the user's own;
# when Lightning is missing, the class derives from this stand-in instead (_lightning_module), and the model is built.
_LIGHTNING_MODULES = {
    "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule",
    "pytorch_lightning.core.lightning.LightningModule",
    "lightning.LightningModule",
    "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule",
    "lightning.pytorch.core.module.LightningModule",
}


class _AttributeDict(dict):
    """Lightning's hparams: a dict read by attribute too (`self.hparams.hidden`)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def __setattr__(self, key, value):
        self[key] = value


def _lightning_module(stub_name):
    """A torch.nn.Module standing in for `stub_name`: what a constructor may call of Lightning's own is harmless here
    (save_hyperparameters keeps the constructor's arguments as hparams, as Lightning does; log, print and the like do
    nothing), and nothing else is added, so the exported function is the class's own forward."""
    import torch

    def save_hyperparameters(self, *names, ignore=None, frame=None, logger=True):
        # Lightning collects the calling __init__'s arguments (or the ones named) into self.hparams.
        frame = frame or inspect.currentframe().f_back
        code = frame.f_code
        count = code.co_argcount + code.co_kwonlyargcount
        params = list(code.co_varnames[:count])
        values = {n: frame.f_locals[n] for n in params[1:] if n in frame.f_locals}
        if code.co_flags & inspect.CO_VARKEYWORDS:
            kw = code.co_varnames[count + (1 if code.co_flags & inspect.CO_VARARGS else 0)]
            values.update(frame.f_locals.get(kw) or {})
        skip = {ignore} if isinstance(ignore, str) else set(ignore or ())
        picked = [n for n in names if isinstance(n, str)] or list(values)
        hparams = self.__dict__.setdefault("_i2f_hparams", _AttributeDict())
        for n in picked:
            if n in values and n not in skip:
                hparams[n] = values[n]

    def nothing(self, *args, **kwargs):
        return None

    members = {
        "save_hyperparameters": save_hyperparameters,
        "hparams": property(lambda self: self.__dict__.setdefault("_i2f_hparams", _AttributeDict())),
        "device": property(lambda self: next(self.parameters(), torch.zeros(())).device),
        "dtype": property(lambda self: next(self.parameters(), torch.zeros(())).dtype),
        "_i2f_lightning": stub_name,
    }
    for name in ("log", "log_dict", "print"):
        members[name] = nothing
    return type("LightningModule", (torch.nn.Module,), members)


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


# Modules written for this export outside root (a notebook's definitions), loadable by path: see the header.
_GENERATED = set()


def _import(module_name, root):
    """The module, imported with sys.argv = [its file] (what `python its_file.py` would give its top level)."""
    if module_name.endswith(".py"):
        path = os.path.abspath(os.path.join(root, module_name))
        if not (path.startswith(root + os.sep) or path in _GENERATED) or not os.path.isfile(path):
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


def _batchnorm_to_groupnorm(model, torch):
    """What Opacus' ModuleValidator.fix(model) does to a model's BatchNorms (opacus/validators/batch_norm.py, Opacus
    >= 1.1): each BatchNorm{1,2,3}d / SyncBatchNorm that has trainable parameters (fix visits only those) becomes
    nn.GroupNorm(gcd(32, C), C, affine=bn.affine), fresh (its weights at initialisation: ones and zeros). The script
    trains the fixed model, so the bridge exports that one. Returns the model and the names replaced."""
    import math

    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)

    class GroupNorm(torch.nn.GroupNorm):
        """nn.GroupNorm, also on [N, C] (a BatchNorm1d's input), which torch 1.13's ONNX exporter cannot take
        (IndexError): as [N, C, 1], the same numbers; its parameters keep their names (bn.weight, bn.bias)."""

        def forward(self, x):
            return super().forward(x.unsqueeze(-1)).squeeze(-1) if x.dim() == 2 else super().forward(x)

    replaced = []
    for name, module in list(model.named_modules()):
        if not name or not isinstance(module, norms):
            continue
        if not any(p.requires_grad for p in module.parameters(recurse=False)):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        c = module.num_features
        setattr(parent, child, GroupNorm(math.gcd(32, c), c, affine=module.affine))
        replaced.append(name)
    if isinstance(model, norms) and any(p.requires_grad for p in model.parameters(recurse=False)):
        model = GroupNorm(math.gcd(32, model.num_features), model.num_features, affine=model.affine)
        replaced.append("(the model itself)")
    return model, replaced


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


def _package_that_has(missing):
    """'opacus' for a missing package; 'a torch that has torch.func (this one is 1.13)' for a missing part of one."""
    top = missing.split(".")[0]
    if top == missing:
        return top
    module = sys.modules.get(top)
    version = re.match(r"\d+\.\d+", str(getattr(module, "__version__", "")))
    return f"a {top} that has {missing}" + (f" (this one is {version.group(0)})" if version else "")


class _NeedsStandIn(TypeError):
    """The model class derives from a stand-in: its message already names the missing package."""


_NeedsStandIn.__name__ = _NeedsStandIn.__qualname__ = "TypeError"  # what the user reads is a TypeError


def _used_stand_ins_error(e, stage):
    """The error of a model that failed while it touched a stand-in: the missing piece is named as the cause."""
    used = _STAND_INS["used"]
    if not used or isinstance(e, _NeedsStandIn) or stage not in ("build", "input-shape", "export"):
        return None
    covered = []
    for u in used:
        m = _stood_in_for(u)
        if m not in covered:
            covered.append(m)
    needs = ", ".join(used[:3]) + (f", … ({len(used)})" if len(used) > 3 else "")
    return (
        f"the model uses {needs}, which this Python lacks ({', '.join(covered)} {'were' if len(covered) > 1 else 'was'} stood in for while the script was imported, "
        f"and a stand-in does nothing): install {_package_that_has(covered[0])} in the Python that builds the model. "
        f"The error: {type(e).__name__}: {e}"
    )


class _NotDownloaded(dict):
    """What a pretrained-weights request gives when the file is not in the torch hub cache: no tensors, and
    Module.load_state_dict of it changes nothing (the model stays at initialisation; the result says so)."""


def _hub_weights(torch, result):
    """torch.hub's weight loading as the bridge allows it: from the hub cache as data, never from the network.
    torchvision's builders (`weights=…`, `pretrained=True`) and torch.utils.model_zoo.load_url all end here."""
    from urllib.parse import urlparse

    hub = torch.hub
    pretrained = result.setdefault("pretrained", [])
    data_only = "weights_only" in inspect.signature(torch.load).parameters

    def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False, file_name=None, **_):
        folder = model_dir or os.path.join(hub.get_dir(), "checkpoints")
        cached = os.path.join(folder, file_name or os.path.basename(urlparse(url).path))
        entry = {"url": url, "file": cached, "state": "missing"}
        pretrained.append(entry)
        if os.path.isfile(cached):
            if not data_only:
                entry["state"] = "unreadable"
                entry["error"] = f"torch {torch.__version__} has no torch.load(weights_only=True), and the bridge reads weights only as data"
                return _NotDownloaded()
            try:
                state = torch.load(cached, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001: a file that is not plain tensors is not read
                entry["state"] = "unreadable"
                entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                return _NotDownloaded()
            entry["state"] = "cache"
            return state
        return _NotDownloaded()

    def download_url_to_file(url, dst, *_, **__):
        raise RuntimeError(f"the export bridge downloads nothing ({url}): put the file at {dst} to build the model with it")

    hub.load_state_dict_from_url = load_state_dict_from_url
    hub.download_url_to_file = download_url_to_file
    torch.utils.model_zoo.load_url = load_state_dict_from_url
    real_load_state_dict = torch.nn.Module.load_state_dict

    def load_state_dict(self, state_dict, *args, **kwargs):
        if isinstance(state_dict, _NotDownloaded):
            return real_load_state_dict(self, self.state_dict(), *args, **kwargs)  # changes nothing, returns what it would
        return real_load_state_dict(self, state_dict, *args, **kwargs)

    torch.nn.Module.load_state_dict = load_state_dict


def run(req, result):
    root = os.path.abspath(req["root"])
    sys.path.insert(0, root)
    _GENERATED.update(os.path.abspath(p) for p in req.get("generated") or [])
    import torch

    never = _workspace_tops(root)
    sys.meta_path.append(_StubFinder(root, never))
    builtins.__import__ = _standing_in_import(builtins.__import__, root + os.sep, never)
    result["stubbed"] = _STAND_INS["stubbed"]

    result["torchVersion"] = torch.__version__.split("+")[0]
    import torch.utils.model_zoo  # noqa: F401: patched by _hub_weights

    _hub_weights(torch, result)
    torch.manual_seed(0)  # the weights at initialisation are then the same on every export (cache, reproducibility)

    result["stage"] = "import"
    obj = _resolve(req["factory"], root)
    result["stage"] = "build"
    _STAND_INS["watching"] = True
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
            missing = _stood_in_for(stood_in)
            raise _NeedsStandIn(
                f"{req['factory']} derives from {stood_in}, which this Python lacks ({missing} was stood in for), "
                f"so it is not a torch.nn.Module here: install {_package_that_has(missing)} in the Python that builds the model"
            )
        raise TypeError(f"{req['factory']}() returned {type(model).__module__}.{type(model).__name__}, not a torch.nn.Module")
    lightning = next((c._i2f_lightning for c in type(model).__mro__ if "_i2f_lightning" in vars(c)), None)
    if lightning:
        result["lightning"] = lightning
    if req.get("normalisation") == "groupnorm":
        result["stage"] = "groupnorm"
        model, result["groupNormReplaced"] = _batchnorm_to_groupnorm(model, torch)
    # Frozen by the code that built it: no gradient of theirs is computed in training, so none is shared.
    result["frozen"] = [n for n, p in model.named_parameters() if not p.requires_grad]
    # Exported with every parameter requiring grad: with none, eval() takes inference-only kernels the ONNX exporter
    # cannot write (nn.MultiheadAttention's _native_multi_head_attention); the arithmetic is the same.
    model.requires_grad_(True)
    model = model.float().eval()

    result["stage"] = "input-shape"
    shape = req.get("inputShape")
    hint = req.get("inputHint")
    if shape:
        ok, why = _runs(model, torch, shape)
        if not ok:
            raise ValueError(f"the forward pass fails on input shape {shape} (from the config): {why}")
        result["inputShapeSource"] = "config"
    elif hint and _runs(model, torch, hint)[0]:
        # The shape of what the script trains on (its DataLoader's dataset), when the model takes it.
        shape = hint
        result["inputShapeSource"] = "hint"
    else:
        candidates, basis = _candidate_shapes(model, torch)
        tried = [{"shape": hint, "error": _runs(model, torch, hint)[1]}] if hint else []
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
        result["error"] = _used_stand_ins_error(e, result["stage"]) or f"{type(e).__name__}: {e}"
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
