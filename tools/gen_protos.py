"""Generate the `haven` Python package from protos/ with grpcio-tools.

The output (lib/haven/) is never edited by hand and never committed: `make
protos` recreates it from scratch, so it cannot drift from the .proto files.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "lib"
PACKAGE = OUT / "haven"


def main() -> int:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    shutil.rmtree(PACKAGE, ignore_errors=True)
    well_known = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"-I{well_known}",
            f"--python_out={OUT}",
            f"--pyi_out={OUT}",
            f"--grpc_python_out={OUT}",
            *sources,
        ]
    )
    if status != 0:
        print(f"protoc failed with status {status}", file=sys.stderr)
        return status
    for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    print(f"generated {len(sources)} proto files into {PACKAGE.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
