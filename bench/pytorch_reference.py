#!/usr/bin/python3
"""PyTorch CPU reference timings for the bench (run with the SYSTEM python: /usr/bin/python3, torch 1.13).

    /usr/bin/python3 bench/pytorch_reference.py [--models mlp,lenet,resnet8,resnet18] [--inputs DIR] [--out file.json]
        [--repeats N] [--budget S] [--analysis lenet:full,resnet18:lambda] [--no-analysis]
        [--analysis-dtype float32|float64] [--export-only] [--attack mlp,lenet] [--attack-steps N]
        [--attack-dtype float32|float64]

Prints ONE JSON object (and writes it to --out if given):
  products: per model, median milliseconds (one thread, float32, 2 warm-up calls) of
      g     = grad_theta L                (forward + backward)
      Ju    = grad_x <g, u>               (forward + backward with graph + double backward)
      JTv   = d/dt g(x + t v)             (double-backward trick: grad_w <J w, v>)
      JJTv  = J (J^T v)                   (JTv then Ju: PyTorch has no fused product)
    each timed end to end from the input, as the product engine would run it; L = mean softmax cross-entropy.
  analysis: per requested model, the same work as the engine's analyzeInfluence(op, {delta, spectrumK: 20}) (see
    analysis()): g, lambda_max (Lanczos, 30 steps, early stop), [full] 100-step Lanczos spectrum, b = J delta,
    I_lb = |b| / lambda_max, [full] undamped CG to a true relative residual of 1e-6 as engine/cg.ts does it.
  attack: per --attack model, the gradient-inversion attack bench/attack.ts times on the engine (see attack()): the
    DLG L2 objective |g(x) - (g0 + delta)|^2 with known labels, torch.optim.LBFGS (strong Wolfe, history 100, lr 1,
    no tolerance stop) for --attack-steps iterations from DIR/<model>/attack_start.npy; iterations and objective
    evaluations per second.

Models: mlp = examples/models/mlp.onnx (784-256-10 sigmoid); lenet = test/fixtures/models/dlg_lenet/model.onnx (DLG
LeNet); resnet8 = test/fixtures/models/resnet8/model.onnx (BatchNorm in eval mode); resnet18 = CIFAR ResNet-18 built
here and exported on first use to bench/out/resnet18.onnx (bench/out is gitignored: never commit it). Batch 1.
bench/run.ts passes --inputs bench/out/inputs, where it wrote the x, labels and delta its own run used, so both
sides do the same work. Weights are always read back from the ONNX initialisers, so PyTorch runs exactly the
float32 weights the ONNX engines see.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

torch.set_flush_denormal(True)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "fixtures"))
import generate as G  # noqa: E402  (model classes, ONNX export, safetensors I/O)
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

OUT = ROOT / "bench" / "out"


def load_onnx_weights(model, path):
    """Copy every initialiser whose name is a parameter or buffer of the model (torch names are kept)."""
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    sd = model.state_dict()
    missing = []
    new = {}
    for k, v in sd.items():
        if k in inits:
            new[k] = torch.from_numpy(inits[k].copy()).to(v.dtype)
        elif k.endswith("num_batches_tracked"):
            new[k] = v
        else:
            missing.append(k)
    if missing:
        raise RuntimeError(f"{path}: no initialiser for {missing}")
    model.load_state_dict(new)
    return model.eval()


MODEL_FILES = {
    "mlp": ROOT / "examples/models/mlp.onnx",
    "lenet": ROOT / "test/fixtures/models/dlg_lenet/model.onnx",
    "resnet8": ROOT / "test/fixtures/models/resnet8/model.onnx",
    "resnet18": OUT / "resnet18.onnx",
}


def export_resnet18():
    path = OUT / "resnet18.onnx"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(18)
        model = G.CifarResNet(blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512))
        G.init_resnet8(model)  # non-trivial BatchNorm statistics, as in the resnet8 fixture
        G.export_onnx(model.eval(), torch.zeros(1, 3, 32, 32), path, 13)
    return path


def architecture(name):
    if name == "mlp":
        return G.MLP(784, 256, 10, flatten=True)
    if name == "lenet":
        return G.DLGLeNet()
    if name == "resnet8":
        return G.CifarResNet()
    if name == "resnet18":
        return G.CifarResNet(blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512))
    raise SystemExit(f"unknown model {name}")


def build(name, inputs=None):
    """Returns (model float32 eval, x, y, delta or None, description).

    With --inputs DIR (what bench/run.ts passes) x, labels and delta are read from DIR/<name>/{x.npy, labels.npy,
    delta.safetensors}, written by the Node side, so both sides do exactly the same work on the same batch.
    Without it: fixture files where they exist, else seeded inputs (then the two sides see different x)."""
    if name == "resnet18":
        export_resnet18()
    path = MODEL_FILES[name]
    model = load_onnx_weights(architecture(name), path)
    rng = np.random.default_rng(0)
    delta = None
    d = Path(inputs) / name if inputs else None
    if d is not None and (d / "x.npy").exists():
        x = torch.from_numpy(np.load(d / "x.npy").astype(np.float32))
        y = torch.from_numpy(np.load(d / "labels.npy").astype(np.int64))
        if (d / "delta.safetensors").exists():
            delta = G.read_safetensors(d / "delta.safetensors")
        src = f"inputs from {d.relative_to(ROOT) if d.is_relative_to(ROOT) else d}"
    elif name == "lenet":
        fx = ROOT / "test/fixtures/models/dlg_lenet"
        x = torch.from_numpy(np.load(fx / "x.npy"))
        y = torch.from_numpy(np.load(fx / "labels.npy"))
        delta = G.read_safetensors(fx / "delta.safetensors")
        src = "fixture x, labels, delta"
    elif name == "mlp":
        x = torch.from_numpy(np.load(ROOT / "examples/data/digits.npy")[:1])
        y = torch.from_numpy(np.load(ROOT / "examples/data/digits_labels.npy")[:1].astype(np.int64))
        src = "examples/data/digits.npy[0]"
    else:
        x = torch.from_numpy(rng.random((1, 3, 32, 32)).astype(np.float32))
        y = torch.tensor([7])
        src = "seeded x"
    desc = f"{path.relative_to(ROOT)}, batch {x.shape[0]}, {src}"
    return model, x, y, delta, desc


class Products:
    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.params = [p for p in model.parameters()]

    def _g(self, x, create_graph):
        loss = F.cross_entropy(self.model(x), self.y)
        return torch.autograd.grad(loss, self.params, create_graph=create_graph)

    def g(self):
        return self._g(self.x, False)

    def Ju(self, u):
        x = self.x.detach().clone().requires_grad_(True)
        g = self._g(x, True)
        return torch.autograd.grad(g, x, grad_outputs=u)[0]

    def JTv(self, v):
        x = self.x.detach().clone().requires_grad_(True)
        g = self._g(x, True)
        w = [torch.zeros_like(t, requires_grad=True) for t in g]
        ju = torch.autograd.grad(g, x, grad_outputs=w, create_graph=True)[0]
        return torch.autograd.grad(ju, w, grad_outputs=v)

    def JJTv(self, v):
        return self.Ju(self.JTv(v))


def median_ms(fn, repeats, budget_s=20.0, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    c0 = time.process_time()
    for i in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
        if time.perf_counter() - start > budget_s and i >= 2:
            break
    return statistics.median(times), len(times), (time.process_time() - c0) * 1e3 / len(times)


def time_products(name, repeats, inputs, budget_s):
    model, x, y, _, desc = build(name, inputs)
    P = Products(model, x, y)
    gen = torch.Generator().manual_seed(1)
    u = [torch.randn(p.shape, generator=gen) for p in P.params]
    v = torch.randn(x.shape, generator=gen)
    res = dict(description=desc, dTheta=sum(p.numel() for p in P.params), dX=x.numel(), batch=int(x.shape[0]))
    for key, fn in [("g", P.g), ("Ju", lambda: P.Ju(u)), ("JTv", lambda: P.JTv(v)), ("JJTv", lambda: P.JJTv(v))]:
        ms, n, cpu = median_ms(fn, repeats, budget_s)
        res[key + "_ms"] = round(ms, 4)
        res[key + "_cpu_ms"] = round(cpu, 4)
        res[key + "_repeats"] = n
    return res


def lanczos(JJT, n, steps, seed, top_tolerance=None):
    """Symmetric Lanczos with full re-orthogonalisation (two classical Gram-Schmidt passes), as lanczos.ts:
    optional early stop once the top Ritz residual |beta_j s_j| <= top_tolerance * theta_max."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    Q = np.zeros((steps, n))
    Q[0] = q
    alpha, beta = [], []
    scale = 0.0
    for j in range(steps):
        w = JJT(Q[j])
        a = float(Q[j] @ w)
        alpha.append(a)
        w = w - a * Q[j] - (beta[-1] * Q[j - 1] if j > 0 else 0.0)
        Qm = Q[: j + 1]
        for _ in range(2):
            w -= Qm.T @ (Qm @ w)
        bj = float(np.linalg.norm(w))
        beta.append(bj)
        scale = max(scale, abs(a) + bj)
        if bj <= 1e-13 * scale:
            break
        if top_tolerance is not None and j >= 1:
            T = np.diag(alpha) + np.diag(beta[:j], 1) + np.diag(beta[:j], -1)
            vals, vecs = np.linalg.eigh(T)
            if abs(bj * vecs[-1, -1]) <= top_tolerance * abs(vals[-1]):
                break
        if j + 1 < steps:
            Q[j + 1] = w / bj
    m = len(alpha)
    T = np.diag(alpha) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
    return np.linalg.eigvalsh(T)[::-1], m


def analysis(name, inputs, dtype="float32", mode="full", max_iter=10000, tol=1e-6, lambda_steps=30,
             spectrum_k=20, check_every=50, roundoff=2.0 ** -24):
    """The same work as engine/influence.ts analyzeInfluence(op, {delta, spectrumK: 20}) with the engine's default
    solver: g; lambda_max by Lanczos (30 steps, stop at Ritz residual 1e-10 * theta); [full] the top/bottom-20
    spectrum by 100 Lanczos steps; b = J delta; I_lb = |b| / lambda_max; [full] undamped CG on J J^T z = b from
    z = 0 to a TRUE relative residual of 1e-6 (true-residual check every 50 iterations and when the recurrence
    claims convergence, residual replacement, stagnation stop as cg.ts), cap 10000 iterations.
    mode "lambda": stop after I_lb (what the ResNet-18 target asks). Products in `dtype`, state float64."""
    model, x, y, delta_np, desc = build(name, inputs)
    tdt = torch.float64 if dtype == "float64" else torch.float32
    model = model.to(tdt)
    x = x.to(tdt)
    P = Products(model, x, y)
    names = [n for n, _ in model.named_parameters()]
    if delta_np is None:
        raise SystemExit(f"{name}: no delta (pass --inputs written by bench/run.ts)")
    delta = [torch.from_numpy(np.array(delta_np[n])).to(tdt) for n in names]
    counts = {"g": 0, "Ju": 0, "JJTv": 0}
    n = x.numel()

    def JJT(vec):  # float64 numpy in, float64 numpy out
        counts["JJTv"] += 1
        r = P.JJTv(torch.from_numpy(vec.reshape(x.shape)).to(tdt))
        return r.detach().double().numpy().reshape(-1)

    stages = {}
    c_start = time.process_time()
    t0 = time.perf_counter()
    counts["g"] += 1
    g = P.g()
    gnorm = float(sum(float((t.double() ** 2).sum()) for t in g) ** 0.5)
    t1 = time.perf_counter()
    stages["gradient"] = t1 - t0
    ritz, lsteps = lanczos(JJT, n, min(lambda_steps, n), seed=2, top_tolerance=1e-10)
    lmax = float(ritz[0])
    t2 = time.perf_counter()
    stages["lambda-max"] = t2 - t1
    spec_steps = 0
    top = bottom = None
    if mode == "full" and spectrum_k > 0:
        ritz_s, spec_steps = lanczos(JJT, n, min(n, max(4 * spectrum_k, 100)), seed=3)
        top = [float(v) for v in ritz_s[:spectrum_k]]
        bottom = [float(v) for v in ritz_s[::-1][:spectrum_k]]
    t3 = time.perf_counter()
    stages["spectrum"] = t3 - t2
    counts["Ju"] += 1
    b = P.Ju(delta).detach().double().numpy().reshape(-1)
    bn = float(np.linalg.norm(b))
    lb = bn / lmax
    t4 = time.perf_counter()
    stages["jacobian"] = t4 - t3
    out = dict(description=desc, mode=mode, productDtype=dtype, stateDtype="float64",
               gradientNorm=gnorm, lanczosSteps=lsteps, lambdaMax=lmax, jDeltaNorm=bn, lowerBound=lb,
               lambdaMaxAndLowerBound_s=round(t4 - t3 + t2 - t0, 4))
    if mode == "full":
        z = np.zeros_like(b)
        r = b.copy()
        p = r.copy()
        rr = float(r @ r)
        it = 0
        best, best_rel = z.copy(), np.inf
        halving_ref, last_halving = np.inf, 0
        stop = "max-iterations"
        z_true = np.nan

        def check(replace):
            nonlocal best, best_rel, halving_ref, last_halving
            res = b - JJT(z)
            rel = float(np.linalg.norm(res)) / bn
            if rel < best_rel:
                best_rel, best = rel, z.copy()
            if rel <= 0.5 * halving_ref:
                halving_ref, last_halving = rel, it
            return rel, res

        while it < max_iter:
            Ap = JJT(p)
            pap = float(p @ Ap)
            if not pap > 0:
                stop = "breakdown"
                break
            a_ = rr / pap
            z += a_ * p
            r -= a_ * Ap
            it += 1
            z_true = np.nan
            rr_new = float(r @ r)
            rel = np.sqrt(rr_new) / bn
            if rel <= tol:
                z_true, res = check(True)
                r = res
                if z_true <= tol:
                    stop = "converged"
                    break
                rr_new = float(r @ r)
            elif it % check_every == 0:
                z_true, _ = check(False)
                if z_true <= tol:
                    stop = "converged"
                    break
            if not np.isnan(z_true):
                floor = 0.25 * roundoff * lmax * float(np.linalg.norm(best)) / bn if dtype == "float32" else 0.0
                since = it - last_halving
                if since >= max(1000, it / 2) or (best_rel <= floor and since >= max(250, it / 10)):
                    stop = "stagnated"
                    break
            p = r + (rr_new / rr) * p
            rr = rr_new
        if np.isnan(z_true):
            z_true, _ = check(False)
        zf = best if best_rel < z_true else z
        t5 = time.perf_counter()
        stages["solve-deterministic"] = t5 - t4
        out.update(cgIterations=it, cgStop=stop, cgTrueResidual=min(best_rel, z_true), i2f=float(np.linalg.norm(zf)),
                   spectrumSteps=spec_steps, top=top, bottom=bottom,
                   msPerJJTvInSolve=round(stages["solve-deterministic"] * 1e3 / max(1, counts["JJTv"]), 4))
    out["wall_s"] = round(time.perf_counter() - t0, 4)
    out["cpu_s"] = round(time.process_time() - c_start, 4)
    out["stages_s"] = {k: round(v, 4) for k, v in stages.items()}
    out["products"] = dict(counts)
    return out


def attack(name, inputs, steps, dtype="float32"):
    """The attack bench/attack.ts runs: same x, labels, delta and start (all from --inputs), L2 gradient matching,
    L-BFGS as server/src/engine/attack.ts (strong Wolfe, history 100, first step 1, no tolerance stop). Its only
    evaluation cap is generous (25 per iteration, torch's line-search limit), so `steps` is the stopping rule on both
    sides unless a line search fails. One thread; products in `dtype`."""
    if not inputs:
        raise SystemExit("--attack needs --inputs (written by bench/run.ts)")
    model, x, y, delta_np, desc = build(name, inputs)
    tdt = torch.float64 if dtype == "float64" else torch.float32
    model = model.to(tdt)
    x = x.to(tdt)
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    delta = torch.cat([torch.from_numpy(np.array(delta_np[n], dtype=np.float64)).reshape(-1) for n in names]).to(tdt)
    start = torch.from_numpy(np.load(Path(inputs) / name / "attack_start.npy")).to(tdt).reshape(x.shape)

    def g(xx, create_graph=False):
        loss = F.cross_entropy(model(xx), y)
        return torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, params, create_graph=create_graph)])

    gstar = (g(x) + delta).detach()
    xa = start.clone().requires_grad_(True)
    evals = [0]
    first = [None]

    def closure():
        opt.zero_grad()
        d = g(xa, create_graph=True) - gstar
        loss = d @ d
        loss.backward()
        evals[0] += 1
        if first[0] is None:
            first[0] = float(loss)
        return loss

    # warm-up (autograd's first double backward allocates), then a fresh optimizer from the same start
    opt = torch.optim.LBFGS([xa], lr=1, max_iter=1, history_size=100, tolerance_grad=0, tolerance_change=0,
                            line_search_fn="strong_wolfe")
    closure()
    with torch.no_grad():
        xa.copy_(start)
    evals[0], first[0] = 0, None
    opt = torch.optim.LBFGS([xa], lr=1, max_iter=steps, max_eval=25 * steps, history_size=100, tolerance_grad=0,
                            tolerance_change=0, line_search_fn="strong_wolfe")
    c0 = time.process_time()
    t0 = time.perf_counter()
    opt.step(closure)
    ms = (time.perf_counter() - t0) * 1e3
    cpu_ms = (time.process_time() - c0) * 1e3
    iters = int(opt.state[opt._params[0]]["n_iter"])
    d = (g(xa.detach()) - gstar).detach()
    err = (xa.detach() - x).reshape(-1).double()
    return dict(description=desc, dtype=dtype, maxSteps=steps, steps=iters, evaluations=evals[0], ms=round(ms, 1),
                cpuMs=round(cpu_ms, 1), stepsPerSecond=round(iters / (ms / 1e3), 2),
                evaluationsPerSecond=round(evals[0] / (ms / 1e3), 2),
                stop="steps" if iters >= steps else "line-search or max-eval",
                initialLoss=first[0], loss=float(d @ d), rmse=float(err.norm()) / float(np.sqrt(err.numel())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="mlp,lenet,resnet8,resnet18")
    ap.add_argument("--out", default="")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per product timing loop (>= 3 repeats)")
    ap.add_argument("--inputs", default="", help="directory of <model>/{x.npy,labels.npy,delta.safetensors}")
    ap.add_argument("--analysis", default="lenet:full,resnet18:lambda",
                    help="comma list of model:full|lambda analyses to run ('' = none)")
    ap.add_argument("--no-analysis", action="store_true")
    ap.add_argument("--analysis-dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--export-only", action="store_true", help="write bench/out/resnet18.onnx and exit")
    ap.add_argument("--attack", default="", help="comma list of models to run the L-BFGS L2 attack on ('' = none)")
    ap.add_argument("--attack-steps", type=int, default=300)
    ap.add_argument("--attack-dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    if args.export_only:
        print(export_resnet18())
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)

    result = dict(
        tool="bench/pytorch_reference.py",
        torch=torch.__version__, numpy=np.__version__, python=platform.python_version(),
        machine=platform.machine(), threads=torch.get_num_threads(), dtype="float32",
        loadavg=list(os.getloadavg()), cores=os.cpu_count(),
        unit="median milliseconds per product, end to end from the input",
        products={}, analysis={}, attack={},
    )
    for name in [m for m in args.models.split(",") if m]:
        print(f"pytorch: timing {name} ...", file=sys.stderr, flush=True)
        result["products"][name] = time_products(name, args.repeats, args.inputs or None, args.budget)
    if not args.no_analysis:
        for spec in [s for s in args.analysis.split(",") if s]:
            name, mode = spec.split(":") if ":" in spec else (spec, "full")
            print(f"pytorch: {mode} analysis on {name} ...", file=sys.stderr, flush=True)
            result["analysis"][name] = analysis(name, args.inputs or None, args.analysis_dtype, mode)
    for name in [m for m in args.attack.split(",") if m]:
        print(f"pytorch: attack on {name} ({args.attack_steps} L-BFGS steps, {args.attack_dtype}) ...", file=sys.stderr, flush=True)
        result["attack"][name] = attack(name, args.inputs or None, args.attack_steps, args.attack_dtype)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
