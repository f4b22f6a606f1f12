#!/usr/bin/python3
"""Which cheap preconditioners reach the SMALL end of J Jᵀ's spectrum (issue 18: ResNet-50's undamped solve is
dominated by it)? A dense float64 experiment on two fixtures, run by the SYSTEM python (/usr/bin/python3, torch 1.13):

    /usr/bin/python3 bench/small_end_preconditioners.py [dlg_lenet|resnet8 ...]

For each fixture (test/fixtures/models/<name>: model.onnx's weights, x.npy, labels.npy, delta.safetensors) it forms
J Jᵀ (d_x × d_x = 3 072²) exactly in float64 (J = ∂g/∂x by one double-backward product per input coordinate; the
ResNet-8 takes ~5 min), b = J δ, and counts CG iterations to a relative residual of 1e-6 (checked every 10) with:
plain; Jacobi (diag J Jᵀ); a Nyström sketch of rank 400 (Frangella, Tropp & Udell, as engine/nystrom.ts); Jacobi
then Nyström on D^-1/2 A D^-1/2; the same with D estimated from m Rademacher probes (z ⊙ A z) averaged over
spatial cells per channel and stride phase; and the best block-circulant approximation (T. Chan's) in polyphase
coordinates of period P (the stride structure of the first layers). Prints one line per preconditioner.
Results (2026-12-07) are in bench/FINDINGS.md under issue 18.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "fixtures"))
sys.path.insert(0, str(ROOT / "bench"))
import generate as G  # noqa: E402
from pytorch_reference import load_onnx_weights  # noqa: E402

warnings.filterwarnings("ignore", message="The value of the smallest subnormal")  # numpy's finfo on this CPU

C, H, W = 3, 32, 32
N = C * H * W
TOL = 1e-6


def dense_system(name):
    root = ROOT / "test/fixtures/models" / name
    model = G.DLGLeNet() if name == "dlg_lenet" else G.CifarResNet()
    model = load_onnx_weights(model, root / "model.onnx")
    ref = G.Reference(model, np.load(root / "x.npy"), np.load(root / "labels.npy"))
    assert ref.d_x == N, ref.d_x
    cols = []
    for i in range(N):
        e = torch.zeros(N, dtype=torch.float64)
        e[i] = 1
        cols.append(ref.JTv_dbl(e).numpy())  # ∂g/∂x e_i
    dgdx = np.stack(cols, 1)
    delta = G.read_safetensors(root / "delta.safetensors")
    d = np.concatenate([np.asarray(delta[n], dtype=np.float64).ravel() for n in ref.names])
    return dgdx.T @ dgdx, dgdx.T @ d


def pcg(a, b, apply_inv, max_iter=30000):
    x = np.zeros_like(b)
    r = b.copy()
    z = apply_inv(r)
    p = z.copy()
    rz = r @ z
    nb = np.linalg.norm(b)
    for k in range(max_iter):
        ap = a @ p
        alpha = rz / (p @ ap)
        x += alpha * p
        r -= alpha * ap
        if k % 10 == 0 and np.linalg.norm(b - a @ x) / nb < TOL:
            return k + 1
        z = apply_inv(r)
        rz_new = r @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    return max_iter


def nystrom(a, rank, rng):
    omega = np.linalg.qr(rng.standard_normal((a.shape[0], rank)))[0]
    y = a @ omega
    nu = np.sqrt(a.shape[0]) * np.finfo(float).eps * np.linalg.norm(y, 2)
    y_nu = y + nu * omega
    chol = np.linalg.cholesky(omega.T @ y_nu)
    u, s, _ = np.linalg.svd(np.linalg.solve(chol, y_nu.T).T, full_matrices=False)
    lam = np.maximum(s ** 2 - nu, 0)
    floor = lam[-1]
    return lambda r: floor * (u @ ((u.T @ r) / np.maximum(lam, floor))) + r - u @ (u.T @ r)


def polyphase(p):
    k, h, w = C * p * p, H // p, W // p
    fwd = lambda v: v.reshape(C, h, p, w, p).transpose(0, 2, 4, 1, 3).reshape(k, h, w)
    inv = lambda u: u.reshape(C, p, p, h, w).transpose(0, 3, 1, 4, 2).reshape(-1)
    return k, h, w, fwd, inv


def block_circulant(a, p):
    """T. Chan's optimal block-circulant approximation in period-p polyphase coordinates: diag blocks of F A Fᴴ."""
    k, h, w, fwd, inv = polyphase(p)
    perm = fwd(np.arange(N)).ravel()
    t = a[np.ix_(perm, perm)].reshape(k, h, w, k, h, w)
    f = np.fft.ifft2(np.fft.fft2(t, axes=(1, 2)), axes=(4, 5))
    blocks = np.stack([np.stack([f[:, i, j, :, i, j] for j in range(w)]) for i in range(h)])
    blocks_inv = np.linalg.inv(blocks)

    def apply(r):
        z = np.einsum("hwij,jhw->ihw", blocks_inv, np.fft.fft2(fwd(r), axes=(1, 2)))
        return inv(np.real(np.fft.ifft2(z, axes=(1, 2))))
    return apply


def pooled(diag, phase, cell):
    """Average per channel and stride phase over cell × cell spatial blocks (a smooth field from noisy probes)."""
    e = diag.reshape(C, H // cell, cell // phase, phase, W // cell, cell // phase, phase)
    return np.broadcast_to(e.mean(axis=(2, 5), keepdims=True), e.shape).reshape(-1)


def main():
    for name in sys.argv[1:] or ["dlg_lenet", "resnet8"]:
        a, b = dense_system(name)
        rng = np.random.default_rng(0)
        lam = np.linalg.eigvalsh(a)
        print(f"{name}: d_x {N}, λmax {lam[-1]:.3e}, λmin {lam[0]:.3e}, κ {lam[-1] / lam[0]:.3e}", flush=True)
        d = np.diag(a).copy()
        print(f"  plain CG             {pcg(a, b, lambda r: r)}", flush=True)
        print(f"  Jacobi               {pcg(a, b, lambda r: r / d)}", flush=True)
        print(f"  Nyström 400          {pcg(a, b, nystrom(a, 400, rng))}", flush=True)

        def jacobi_nystrom(diag):
            s = 1 / np.sqrt(diag)
            scaled = a * s[:, None] * s[None, :]
            return pcg(scaled, b * s, nystrom(scaled, 400, rng))
        print(f"  Jacobi + Nyström 400 {jacobi_nystrom(d)}", flush=True)
        for m in (64, 256):
            z = rng.choice([-1.0, 1.0], size=(N, m))
            est = pooled((z * (a @ z)).mean(1), 2, 8)
            if (est > 0).all():
                print(f"  Jacobi from {m} probes (pooled 8×8, 2 phases) + Nyström 400 {jacobi_nystrom(est)}", flush=True)
        for p in (1, 2, 4):
            print(f"  block-circulant, period {p}  {pcg(a, b, block_circulant(a, p))}", flush=True)


if __name__ == "__main__":
    main()
