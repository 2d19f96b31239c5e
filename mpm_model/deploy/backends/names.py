"""The backends' names, precisions and which precisions each runs: torch-free, so a parameter table or a launch file
can check a request without loading a runtime."""
from __future__ import annotations

BACKEND_NAMES = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16")
# What an explicitly requested backend can run (auto runs what its choice can: the request is a preference there).
BACKEND_PRECISIONS = {"torch": PRECISIONS, "onnxruntime": ("fp32",), "tensorrt": ("fp32", "fp16"), "auto": PRECISIONS}


def precision_problem(backend: str, precision: str) -> str | None:
    """None when `backend` can run `precision`, else the sentence that refuses it (the same at configure, at a
    runtime parameter change and in create_backend)."""
    if backend not in BACKEND_NAMES:
        return f"backend must be one of {list(BACKEND_NAMES)}, got {backend!r}"
    if precision not in PRECISIONS:
        return f"precision must be one of {list(PRECISIONS)}, got {precision!r}"
    if precision not in BACKEND_PRECISIONS[backend]:
        runs = " and ".join(BACKEND_PRECISIONS[backend])
        return f"backend={backend} runs {runs} only, got precision={precision!r}"
    return None
