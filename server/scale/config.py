"""The deployment file of `ostinato serve --ray`: one table per model family (see deployments.toml)."""

from __future__ import annotations

import importlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILE = Path(__file__).with_name("deployments.toml")

_FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_KNOWN_KEYS = {"module", "replicas", "num_cpus", "num_gpus", "max_replicas_per_node", "max_ongoing_requests", "autoscaling"}
_AUTOSCALING_KEYS = {"min_replicas", "max_replicas", "target_ongoing_requests"}


class DeploymentConfigError(ValueError):
    """The deployment file is wrong; the message names the family and the field."""


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target_ongoing_requests: float


@dataclass(frozen=True)
class FamilyDeployment:
    """How one model family runs on the cluster."""

    name: str
    module: str
    replicas: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_replicas_per_node: int = 0
    max_ongoing_requests: int = 8
    autoscaling: Autoscaling | None = None

    def serve_options(self) -> dict[str, Any]:
        """Keyword arguments of `Deployment.options(...)`."""
        options: dict[str, Any] = {
            "name": self.name,
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            "max_ongoing_requests": self.max_ongoing_requests,
        }
        if self.max_replicas_per_node:
            options["max_replicas_per_node"] = self.max_replicas_per_node
        if self.autoscaling is None:
            options["num_replicas"] = self.replicas
        else:
            options["autoscaling_config"] = {
                "min_replicas": self.autoscaling.min_replicas,
                "max_replicas": self.autoscaling.max_replicas,
                "target_ongoing_requests": self.autoscaling.target_ongoing_requests,
            }
        return options


@dataclass(frozen=True)
class ScaleConfig:
    families: tuple[FamilyDeployment, ...] = field(default_factory=tuple)

    def family(self, name: str) -> FamilyDeployment:
        for family in self.families:
            if family.name == name:
                return family
        raise KeyError(name)


def _number(family: str, key: str, value: Any, *, integer: bool, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise DeploymentConfigError(f"[{family}] {key}: expected {kind}, got {value!r}"[:200])
    if not math.isfinite(value) or value < minimum:
        raise DeploymentConfigError(f"[{family}] {key}: must be >= {minimum:g}, got {value!r}")
    return value


def parse_config(data: dict[str, Any], origin: str = "deployment file") -> ScaleConfig:
    """Validates a parsed TOML document; every error names the family and the field."""
    families = []
    for name, table in data.items():
        if not _FAMILY_NAME.match(name) or not isinstance(table, dict):
            raise DeploymentConfigError(f"{origin}: [{name}] is not a family table (lower-case name, then fields)")
        unknown = set(table) - _KNOWN_KEYS
        if unknown:
            raise DeploymentConfigError(f"{origin}: [{name}] unknown field(s) {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}")
        module = table.get("module")
        if not isinstance(module, str) or not module.startswith("server.services."):
            raise DeploymentConfigError(f"{origin}: [{name}] module: a server.services.* module is required")
        autoscaling = None
        if "autoscaling" in table:
            scaling = table["autoscaling"]
            if not isinstance(scaling, dict) or set(scaling) != _AUTOSCALING_KEYS:
                raise DeploymentConfigError(f"{origin}: [{name}.autoscaling] needs exactly {sorted(_AUTOSCALING_KEYS)}")
            low = int(_number(name, "autoscaling.min_replicas", scaling["min_replicas"], integer=True, minimum=0))
            high = int(_number(name, "autoscaling.max_replicas", scaling["max_replicas"], integer=True, minimum=1))
            if low > high:
                raise DeploymentConfigError(f"{origin}: [{name}.autoscaling] min_replicas {low} > max_replicas {high}")
            target = _number(name, "autoscaling.target_ongoing_requests", scaling["target_ongoing_requests"], integer=False, minimum=0.1)
            autoscaling = Autoscaling(low, high, float(target))
        families.append(
            FamilyDeployment(
                name=name,
                module=module,
                replicas=int(_number(name, "replicas", table.get("replicas", 1), integer=True, minimum=1)),
                num_cpus=float(_number(name, "num_cpus", table.get("num_cpus", 1.0), integer=False, minimum=0)),
                num_gpus=float(_number(name, "num_gpus", table.get("num_gpus", 0), integer=False, minimum=0)),
                max_replicas_per_node=int(_number(name, "max_replicas_per_node", table.get("max_replicas_per_node", 0), integer=True, minimum=0)),
                max_ongoing_requests=int(_number(name, "max_ongoing_requests", table.get("max_ongoing_requests", 8), integer=True, minimum=1)),
                autoscaling=autoscaling,
            )
        )
    if not families:
        raise DeploymentConfigError(f"{origin}: no family tables")
    return ScaleConfig(tuple(families))


def load_config(path: Path | None = None) -> ScaleConfig:
    """Reads and validates a deployment file (default: server/scale/deployments.toml)."""
    path = path or DEFAULT_CONFIG_FILE
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise DeploymentConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise DeploymentConfigError(f"{path}: {error}") from None
    config = parse_config(data, str(path))
    for family in config.families:
        try:
            importlib.import_module(family.module)
        except ImportError as error:
            raise DeploymentConfigError(f"{path}: [{family.name}] module {family.module} cannot be imported: {error}") from None
    return config
