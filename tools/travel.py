"""What would travel to the GPU machine, and whether it fits: tracked files + untracked files git does not ignore
(`git ls-files -co --exclude-standard`) + the carried ignored paths (default: travel/, where the training pack goes).
Prints the largest files and the total; exits 1 above the limit (default 60 MiB; the machine takes 64).

    python tools/travel.py [--carry travel other/path] [--limit-mib 60] [--top 10]      (make travel)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def git_files(root: Path, *flags: str) -> list[Path]:
    """Existing files that `git ls-files <flags>` lists (a tracked file deleted in the work tree does not travel)."""
    out = subprocess.run(["git", "ls-files", "-z", *flags], cwd=root, check=True, capture_output=True).stdout
    return [root / name for name in out.decode().split("\0") if name and (root / name).is_file()]


def tracked_bytes(root: Path = ROOT) -> int:
    """Size of the tracked files as they are in the work tree."""
    return sum(p.stat().st_size for p in git_files(root))


def travelling(root: Path, carry: list[str]) -> dict[Path, int]:
    """{file: bytes} of everything that travels."""
    files = set(git_files(root, "-c", "-o", "--exclude-standard"))
    for name in carry:
        path = root / name
        files.update([path] if path.is_file() else (p for p in path.rglob("*") if p.is_file()))
    return {p: p.stat().st_size for p in sorted(files)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/travel.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="repository (default: this one)")
    parser.add_argument("--carry", nargs="*", default=["travel"], help="ignored paths carried along")
    parser.add_argument("--limit-mib", type=float, default=60.0)
    parser.add_argument("--top", type=int, default=10, help="largest files listed")
    args = parser.parse_args(argv)
    sizes = travelling(args.root.resolve(), args.carry)
    total = sum(sizes.values()) / MIB
    for path, size in sorted(sizes.items(), key=lambda item: -item[1])[:args.top]:
        print(f"{size / MIB:9.2f} MiB  {path.relative_to(args.root.resolve())}")
    tracked = tracked_bytes(args.root.resolve()) / MIB
    verdict = "fits" if total <= args.limit_mib else "TOO LARGE"
    print(f"{len(sizes)} files, {total:.2f} MiB total (tracked {tracked:.2f} MiB, carried {args.carry}); "
          f"limit {args.limit_mib:g} MiB: {verdict}")
    return 0 if total <= args.limit_mib else 1


if __name__ == "__main__":
    sys.exit(main())
