"""Every module of the package has a place in the layer map that import-linter enforces (pyproject.toml)."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_top_level_module_is_in_a_layer():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}
    package = ROOT / "authserver"
    modules = {f"authserver.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"authserver.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert sorted(modules - placed) == [], "add these to [tool.importlinter] layers in pyproject.toml"
    assert sorted(placed - modules) == [], "these layer entries name no module"
