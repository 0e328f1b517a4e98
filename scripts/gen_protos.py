"""Generates the Python gRPC code beside each .proto under protos/.

Run as `python scripts/gen_protos.py [OUT_DIR]`. With OUT_DIR the files are written there
instead (the stale-stubs test compares such a fresh generation with the committed files).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent.parent / "protos"


def proto_files() -> list[Path]:
    """All .proto files under protos/, sorted so generation is deterministic."""
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path = PROTO_ROOT) -> None:
    """Runs protoc for every proto file, writing *_pb2.py, *_pb2.pyi and *_pb2_grpc.py."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Every generated folder is a regular package so `vtutor.<area>.v1` imports cleanly.
    for path in (out_dir / "vtutor").rglob("*"):
        if path.is_dir() and not (path / "__init__.py").exists():
            (path / "__init__.py").write_text("")
    if not (out_dir / "vtutor" / "__init__.py").exists():
        (out_dir / "vtutor" / "__init__.py").write_text("")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
