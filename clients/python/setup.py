"""Generates the crm.v1 stubs from the contract while the package is built.

`pip install ./clients/python` runs grpcio-tools' protoc over ../../proto/crm/v1 (or
$CRM_PROTO_DIR/crm/v1) and puts the modules under `crm.v1` in the built package, beside
`crm_client`. The google.rpc messages come from googleapis-common-protos.
"""

import os
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py


def proto_root() -> pathlib.Path:
    here = pathlib.Path(__file__).resolve().parent
    root = pathlib.Path(os.environ.get("CRM_PROTO_DIR", here.parent.parent / "proto"))
    if not (root / "crm" / "v1").is_dir():
        raise SystemExit(f"crm-client: no contract at {root}/crm/v1 (set CRM_PROTO_DIR)")
    return root


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        import grpc_tools
        from grpc_tools import protoc

        root = proto_root()
        out = pathlib.Path(self.build_lib)
        well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
        sources = sorted(str(p.relative_to(root)) for p in (root / "crm" / "v1").glob("*.proto"))
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{root}",
                f"-I{well_known}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                *sources,
            ]
        )
        if code != 0:
            raise SystemExit(f"crm-client: protoc failed ({code})")
        for package in (out / "crm", out / "crm" / "v1"):
            (package / "__init__.py").touch()


setup(cmdclass={"build_py": BuildWithStubs})
