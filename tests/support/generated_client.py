"""A Python client generated from the running gateway's own /api/schema/ with openapi-python-client,
as a client developer would make one; any generator warning fails the caller."""

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

CONFIG = "post_hooks: []\npackage_name_override: {package}\nproject_name_override: {package}\n"


def generate_client(schema_url: str, workdir: Path, package: str = "mobix_client") -> ModuleType:
    """Generate `package` under `workdir` from `schema_url` and import it."""
    config = workdir / "openapi-python-client.yaml"
    config.write_text(CONFIG.format(package=package), encoding="utf-8")
    out = workdir / package
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--url", schema_url, "--meta", "none",
               "--output-path", str(out), "--config", str(config), "--overwrite"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The generator reports skipped endpoints, unsupported schemas and parse problems as warnings.
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output
    sys.path.insert(0, str(workdir))
    importlib.invalidate_caches()
    return importlib.import_module(package)
