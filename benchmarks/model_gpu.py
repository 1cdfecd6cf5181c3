"""MORPH-Ti on a CUDA GPU: training and inference samples/s, peak memory, SDPA kernels, bf16, compile.

    python -m benchmarks.model_gpu --json runs/model_gpu.json

The same three cases as `model_throughput.py` (the issue's batch sizes) and, with
`--scale N`, each batch N times larger (a GPU is starved by the small ones).
Implementations: "fast" (our model, fp32 with TF32 matmuls off), "padded" (the
straightforward reference, fp32), "fast-bf16" (torch.autocast bfloat16),
"fast-bf16-compiled" (the same under torch.compile). A training step is
forward + MSE + backward + fused AdamW. Times are CUDA-synchronised medians of
`--steps` calls after `--warmup`; peak memory is torch.cuda.max_memory_allocated
over a step. "sdpa" lists, per case, which scaled_dot_product_attention kernels
run the model's attention in bf16 (flash, memory-efficient, cuDNN, math) and the
inference time with each one forced. MFU = FLOPs of one training step
(torch.utils.flop_counter) / median time / the GPU's measured matmul FLOP/s in
the same precision.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch

from benchmarks.model_throughput import CASES, TI, models_with_equal_weights, reference_forward


def matmul_flops_per_s(dtype: torch.dtype, size: int = 8192, repeats: int = 10) -> float:
    a = torch.randn(size, size, device="cuda", dtype=dtype)
    b = torch.randn(size, size, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * size ** 3 * repeats / (time.perf_counter() - start)


def _batch(case: str, scale: int):
    _, b, t, f, c, d, h, w = CASES[case]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(b * scale, t, f, c, d, h, w, generator=generator).cuda()
    y = torch.randn(b * scale, f, c, d, h, w, generator=generator).cuda()
    return x, y


def _functions(impl: str):
    fast, params = models_with_equal_weights()
    fast = fast.cuda()
    params = {k: v.detach().cuda().requires_grad_(True) for k, v in params.items()}
    if impl == "padded":
        forward, weights = (lambda x: reference_forward(params, x, TI)), list(params.values())
    elif impl == "fast-bf16-compiled":
        forward, weights = torch.compile(fast, dynamic=False), list(fast.parameters())
    else:
        forward, weights = fast, list(fast.parameters())
    optimiser = torch.optim.AdamW(weights, lr=1e-4, fused=True)
    bf16 = impl.startswith("fast-bf16")

    def precision():
        return torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def train_step(x, y):
        optimiser.zero_grad(set_to_none=True)
        with precision():
            loss = torch.nn.functional.mse_loss(forward(x).float(), y)
        loss.backward()
        optimiser.step()

    def infer(x, y):
        with torch.no_grad(), precision():
            forward(x)

    return train_step, infer, fast


def _median_time(fn, x, y, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        fn(x, y)
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn(x, y)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _train_flops(fast, x, y) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        torch.nn.functional.mse_loss(fast(x), y).backward()
    fast.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _sdpa_kernels(fast, x) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    out = {}
    for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                          ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)):
        try:
            with sdpa_kernel([backend]), torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
                fast(x)
                torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(5):
                    fast(x)
                torch.cuda.synchronize()
            out[name] = {"ok": True, "infer_s": (time.perf_counter() - start) / 5}
        except RuntimeError as err:
            out[name] = {"ok": False, "error": str(err).splitlines()[0][:160]}
    return out


def run_case(case: str, scale: int, warmup: int, steps: int, impls: tuple[str, ...],
             peak: dict[str, float]) -> dict:
    x, y = _batch(case, scale)
    result = {"batch": x.shape[0]}
    for impl in impls:
        train_step = infer = fast = None
        try:
            train_step, infer, fast = _functions(impl)
            torch.cuda.reset_peak_memory_stats()
            train_step(x, y)
            torch.cuda.synchronize()
            entry = {"train_s": _median_time(train_step, x, y, warmup, steps),
                     "infer_s": _median_time(infer, x, y, warmup, steps),
                     "peak_mib": torch.cuda.max_memory_allocated() / 2 ** 20}
            entry["train_samples_s"] = x.shape[0] / entry["train_s"]
            entry["infer_samples_s"] = x.shape[0] / entry["infer_s"]
            if impl == "fast":
                result["train_flops"] = _train_flops(fast, x, y)
            if impl == "fast-bf16":
                result["sdpa"] = _sdpa_kernels(fast, x)
            if "train_flops" in result and impl != "padded":
                matmul = peak["bf16"] if impl.startswith("fast-bf16") else peak["fp32"]
                entry["mfu"] = result["train_flops"] / entry["train_s"] / matmul
        except Exception as err:  # a kernel or compile failure is a result worth recording
            entry = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
        result[impl] = entry
        del train_step, infer, fast
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="abc")
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("model_gpu.py needs a CUDA GPU; on CPU use benchmarks/model_throughput.py")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    peak = {"fp32": matmul_flops_per_s(torch.float32), "bf16": matmul_flops_per_s(torch.bfloat16)}
    impls = ("fast", "padded", "fast-bf16") + (() if args.no_compile else ("fast-bf16-compiled",))
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "matmul_tflops": {k: v / 1e12 for k, v in peak.items()}, "cases": {}}
    print(f"{report['device']}, torch {torch.__version__}, matmul TFLOP/s fp32 {peak['fp32'] / 1e12:.1f} "
          f"bf16 {peak['bf16'] / 1e12:.1f}", flush=True)
    print("| case | B | impl | train samples/s | infer samples/s | peak MiB | MFU |")
    print("|---|---|---|---|---|---|---|")
    for case in args.cases:
        for scale in args.scale:
            result = run_case(case, scale, args.warmup, args.steps, impls, peak)
            report["cases"][f"{case}x{scale}"] = result
            for impl in impls:
                e = result[impl]
                if "error" in e:
                    print(f"| {case} | {result['batch']} | {impl} | error: {e['error']} | | | |", flush=True)
                    continue
                mfu = f"{100 * e['mfu']:.0f}%" if "mfu" in e else ""
                print(f"| {case} | {result['batch']} | {impl} | {e['train_samples_s']:.0f} | "
                      f"{e['infer_samples_s']:.0f} | {e['peak_mib']:.0f} | {mfu} |", flush=True)
            if args.json:  # after every case, so a run cut short keeps what it measured
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(report, indent=2))
            if "sdpa" in result:
                print("  sdpa bf16 kernels: " + ", ".join(
                    f"{k} {'%.2f ms' % (1e3 * v['infer_s']) if v['ok'] else 'no'}"
                    for k, v in result["sdpa"].items()), flush=True)


if __name__ == "__main__":
    main()
