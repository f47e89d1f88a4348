"""What ``homeforge_services`` declares, as data: services, their consumers and
exposure (parsed and checked by :mod:`homeforge.cutover.declaration`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Variable:
    name: str
    host: str  # the service host it points at
    suffix: str = ""


@dataclass
class Consumer:
    host: str
    kind: str  # env_file | systemd | deployment
    target: str  # the file, the unit, or namespace/name
    variables: list[Variable]
    after: tuple[str, str] | None = None  # (restart|reload|run, unit or command), env_file only
    container: str = ""  # deployment only
    kubectl: str = "kubectl"

    @property
    def label(self) -> str:
        return f"{self.host} {self.kind} {self.target}"

    @property
    def ident(self) -> str:
        return f"consumer:{self.host}:{self.kind}:{self.target}"


@dataclass
class Exposure:
    mode: str = "firewall"
    unit: str = ""
    variable: str = ""
    value: str = "{address}:{port}"


@dataclass
class Service:
    name: str
    port: int
    hosts: dict[str, str]  # host -> legacy endpoint (may be empty)
    consumers: list[Consumer]
    health_path: str = "/"
    method: str = "GET"
    expect: list[int] = field(default_factory=list)  # empty: any 2xx/3xx
    probes: int = 5
    interval: float = 0.2
    scheme: str = "http"
    exposure: Exposure = field(default_factory=Exposure)

    def mesh_url(self, address: str, suffix: str = "") -> str:
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}{suffix}"


@dataclass
class Event:
    step: str
    status: str  # ok | fail | warn | info | change | would
    message: str
    host: str = ""
    elapsed: float = 0.0


@dataclass
class Plan:
    addresses: dict[str, str] = field(default_factory=dict)  # service host -> mesh address
    current: dict[str, dict] = field(default_factory=dict)  # consumer ident -> {values, exists}
    desired: dict[str, dict] = field(default_factory=dict)  # consumer ident -> values
