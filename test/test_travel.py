"""tools/travel.py: what travels to the GPU machine (tracked + untracked-not-ignored + carried paths) and the
size limits: the tracked tree stays under 45 MiB, the command fails above its limit."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import travel  # noqa: E402

TRACKED_LIMIT_MIB = 45.0


def test_tracked_tree_is_under_45_mib():
    tracked = travel.tracked_bytes(ROOT) / travel.MIB
    assert 1.0 < tracked < TRACKED_LIMIT_MIB, f"tracked files are {tracked:.1f} MiB"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_lists_exactly_what_travels_and_fails_above_the_limit(tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / "pack").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("/pack/\n/out/\n")
    (repo / "tracked.bin").write_bytes(b"t" * 3 * travel.MIB)
    _git(repo, "add", ".gitignore", "tracked.bin")
    (repo / "new.txt").write_bytes(b"n" * 1000)  # untracked, not ignored: travels
    (repo / "pack" / "data.pack").write_bytes(b"p" * 2 * travel.MIB)  # ignored but carried
    (repo / "out").mkdir()
    (repo / "out" / "ckpt.pt").write_bytes(b"o" * 5 * travel.MIB)  # ignored, not carried: stays
    sizes = travel.travelling(repo, ["pack"])
    assert {p.relative_to(repo).as_posix() for p in sizes} == {".gitignore", "tracked.bin", "new.txt",
                                                                "pack/data.pack"}
    assert travel.main(["--root", str(repo), "--carry", "pack", "--limit-mib", "6"]) == 0
    assert "limit 6 MiB: fits" in capsys.readouterr().out
    assert travel.main(["--root", str(repo), "--carry", "pack", "--limit-mib", "4.5"]) == 1
    assert "TOO LARGE" in capsys.readouterr().out
