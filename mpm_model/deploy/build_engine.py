"""Build (or reuse from the cache) a TensorRT engine for an exported MPM ONNX file.

Equivalent trtexec call (T=27, J=17, batch 1..16, opt 1):
  trtexec --onnx=X.onnx --minShapes=keypoints2d:1x27x17x2,mask:1x27x17 --optShapes=keypoints2d:1x27x17x2,mask:1x27x17
          --maxShapes=keypoints2d:16x27x17x2,mask:16x27x17 [--fp16] --saveEngine=X.engine
(this tool adds the cache sidecar and keeps LayerNorm/Softmax in FP32 under --fp16).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def trtexec_command(onnx: Path, window: int, joints: int, max_batch: int, opt_batch: int, fp16: bool,
                    engine: Path) -> str:
    """The trtexec line that builds the same optimisation profile (documented equivalence, printed by --trtexec)."""
    def shapes(batch: int) -> str:
        return f"keypoints2d:{batch}x{window}x{joints}x2,mask:{batch}x{window}x{joints}"

    return (f"trtexec --onnx={onnx} --minShapes={shapes(1)} --optShapes={shapes(opt_batch)} "
            f"--maxShapes={shapes(max_batch)}{' --fp16' if fp16 else ''} --saveEngine={engine}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.deploy.build_engine", description=__doc__.splitlines()[0],
                                     epilog="Needs TensorRT 10 and a CUDA GPU (Jetson: JetPack 6).")
    parser.add_argument("--onnx", required=True, type=Path, help="ONNX from `python -m mpm_model.deploy.export`")
    parser.add_argument("--fp16", action="store_true", help="FP16 engine (LayerNorm/Softmax/Reduce kept FP32)")
    parser.add_argument("--max-batch", type=int, help="profile max batch (default: 16, capped at the export's)")
    parser.add_argument("--opt-batch", type=int, default=1, help="profile opt batch: the typical batch (default 1)")
    parser.add_argument("--engine-dir", type=Path, help="engine cache directory (default $ROS_HOME/mpm_ros/engines, "
                        "~/.ros/mpm_ros/engines: the node's, so it reuses what is built here)")
    parser.add_argument("--force-rebuild", action="store_true", help="rebuild even if a matching engine is cached")
    parser.add_argument("--workspace-mb", type=int, default=1024, help="builder workspace limit in MiB")
    parser.add_argument("--trtexec", action="store_true", help="only print the equivalent trtexec command")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from mpm_model.files import default_engine_dir
    from mpm_model.deploy.export import read_onnx_sidecar

    engine_dir = args.engine_dir or default_engine_dir()
    config, sidecar = read_onnx_sidecar(args.onnx)
    args.max_batch = args.max_batch or min(16, sidecar["batch_max"])
    if not 1 <= args.opt_batch <= args.max_batch:
        parser.error(f"need 1 <= --opt-batch <= --max-batch, got {args.opt_batch} and {args.max_batch}")
    if args.max_batch > sidecar["batch_max"]:
        parser.error(f"--max-batch {args.max_batch} exceeds the ONNX export's batch_max {sidecar['batch_max']}")
    if args.trtexec:
        engine = engine_dir / f"{args.onnx.stem}-trtexec.engine"
        print(trtexec_command(args.onnx, config.window, config.num_joints, args.max_batch, args.opt_batch,
                              args.fp16, engine))
        return
    from mpm_model.deploy.backends.tensorrt_backend import ensure_engine

    try:
        engine, _, rebuilt = ensure_engine(args.onnx, engine_dir, "fp16" if args.fp16 else "fp32",
                                           args.max_batch, args.opt_batch, args.force_rebuild, args.workspace_mb)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    print(f"{'built' if rebuilt else 'reused'} {engine}")


if __name__ == "__main__":
    main()
