"""What a cutover changes, one adapter per kind: consumers and the service's exposure.

A consumer adapter points one consumer (an environment file, a systemd unit, a
Kubernetes Deployment) at endpoints: ``read`` its current values, ``write`` new
ones (idempotent: False when nothing changed), ``describe`` a state for the log.
An exposure adapter does the same for how the service is reachable on its hosts
(``firewall``: port closed outside the mesh; ``bind``: listen on the mesh address;
``none``: left as it is). A new kind is one new class in :data:`CONSUMERS` or
:data:`EXPOSURES`; the engine does not change.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import ClassVar

from homeforge import paths
from homeforge.cutover.model import Consumer, Service
from homeforge.errors import EXIT_INTERRUPTED, HomeforgeError
from homeforge.inventory.model import Inventory
from homeforge.remote import Remote, envops, firewallops, kubeops, probeops


class StepFailed(HomeforgeError):
    """A step failed; the message names the step, the host and what went wrong."""


class Interrupted(HomeforgeError):
    """Ctrl-C: the run stopped between two steps; the journal says what is left."""

    exit_code = EXIT_INTERRUPTED


@dataclass
class Context:
    """What every adapter needs: the hosts, the service, the mesh."""

    inv: Inventory
    remote: Remote
    service: Service
    iface: str
    cidr: str

    def dropin_name(self, suffix: str = "") -> str:
        return f"homeforge-{self.service.name}{suffix}"


def checked_mesh_address(host: str, reported: object, cidr: str) -> str:
    """The address a host reports for its mesh interface, if it is one of the mesh's: it
    becomes part of URLs written into consumers' files and units."""
    try:
        address = ipaddress.ip_address(str(reported))
        inside = address in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        inside = False
    if not inside:
        raise StepFailed(
            f"preflight: {host}: reports mesh address {reported!r}, which is not in the mesh {cidr}"
        )
    return str(address)


# --------------------------------------------------------------------------- consumers


class ConsumerTarget:
    kind: ClassVar[str]

    def __init__(self, ctx: Context, consumer: Consumer):
        self.ctx = ctx
        self.consumer = consumer
        self.names = [v.name for v in consumer.variables]

    def read(self) -> dict:
        """``{"exists": bool, "values": {NAME: value or None}}``; StepFailed when missing."""
        raise NotImplementedError

    def write(self, values: dict[str, str | None], settle: bool = False) -> bool:
        """Set the values; True when something changed. ``settle``: an earlier run may
        have written them and stopped before the consumer picked them up (its journal
        entry stayed at "intent"), so restart/reload the consumer even when the file
        already holds them."""
        raise NotImplementedError

    def describe(self, values: dict[str, str | None]) -> str:
        shown = ", ".join(f"{k}={shown_value(v)}" for k, v in values.items())
        return f"{self.consumer.kind} {self.consumer.target}: {shown}"


class EnvFileConsumer(ConsumerTarget):
    kind = "env_file"

    def read(self) -> dict:
        c, remote = self.consumer, self.ctx.remote
        state = remote.call(c.host, envops.env_read, path=c.target, names=self.names)
        if not state["exists"]:
            raise StepFailed(
                f"{c.host}: {c.target}: no such file (the consumer's environment file)"
            )
        unit = c.after[1] if c.after and c.after[0] != "run" else None
        if unit and not remote.call(c.host, envops.unit_exists, unit=unit)["exists"]:
            raise StepFailed(
                f"{c.host}: {c.after[1]}: no such systemd unit ({c.after[0]} after the switch)"
            )
        return state

    def write(self, values: dict[str, str | None], settle: bool = False) -> bool:
        c, remote = self.consumer, self.ctx.remote
        changed = remote.call(c.host, envops.env_write, path=c.target, values=values)["changed"]
        if (changed or settle) and c.after:
            action, what = c.after
            if action == "run":
                remote.call(c.host, envops.run_command, command=what)
            else:
                remote.call(c.host, envops.unit_action, unit=what, action=action)
        return changed


class SystemdConsumer(ConsumerTarget):
    kind = "systemd"

    def read(self) -> dict:
        c = self.consumer
        state = self.ctx.remote.call(
            c.host,
            envops.dropin_read,
            unit=c.target,
            name=self.ctx.dropin_name(),
            names=self.names,
        )
        if not state["exists"]:
            raise StepFailed(f"{c.host}: {c.target}: no such systemd unit (the consumer)")
        return state

    def write(self, values: dict[str, str | None], settle: bool = False) -> bool:
        c = self.consumer
        return self.ctx.remote.call(
            c.host,
            envops.dropin_write,
            unit=c.target,
            name=self.ctx.dropin_name(),
            values=values,
            settle=settle,
        )["changed"]


class DeploymentConsumer(ConsumerTarget):
    kind = "deployment"

    def _where(self) -> dict:
        namespace, _sep, name = self.consumer.target.partition("/")
        return {
            "kubectl": self.consumer.kubectl,
            "namespace": namespace,
            "name": name,
            "container": self.consumer.container,
        }

    def read(self) -> dict:
        return self.ctx.remote.call(
            self.consumer.host, kubeops.deployment_read, names=self.names, **self._where()
        )

    def write(self, values: dict[str, str | None], settle: bool = False) -> bool:
        return self.ctx.remote.call(
            self.consumer.host,
            kubeops.deployment_write,
            values=values,
            settle=settle,
            **self._where(),
        )["changed"]


CONSUMERS: dict[str, type[ConsumerTarget]] = {
    cls.kind: cls for cls in (EnvFileConsumer, SystemdConsumer, DeploymentConsumer)
}


def consumer_target(ctx: Context, consumer: Consumer) -> ConsumerTarget:
    return CONSUMERS[consumer.kind](ctx, consumer)


# --------------------------------------------------------------------------- exposure


class ExposureTarget:
    mode: ClassVar[str]

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.service = ctx.service

    def read(self, host: str) -> dict:
        raise NotImplementedError

    def desired(self, host: str, mesh_address: str) -> dict:
        raise NotImplementedError

    def write(self, host: str, state: dict) -> bool:
        raise NotImplementedError

    def describe(self, host: str, state: dict) -> str:
        raise NotImplementedError

    def verify(self, host: str) -> str | None:
        """After the cutover: a line saying the service is closed outside the mesh, or None."""
        return None


class FirewallExposure(ExposureTarget):
    """The port answers only over the mesh and on loopback (the shared homeforge-mesh-only unit)."""

    mode = "firewall"

    def read(self, host: str) -> dict:
        state = self.ctx.remote.call(host, firewallops.firewall_read, service=self.service.name)
        return {"closed": state["closed"]}

    def desired(self, host: str, mesh_address: str) -> dict:
        return {"closed": True}

    def write(self, host: str, state: dict) -> bool:
        files = paths.role_dir("wireguard") / "files"
        return self.ctx.remote.call(
            host,
            firewallops.firewall_set,
            service=self.service.name,
            port=self.service.port,
            iface=self.ctx.iface,
            cidr=self.ctx.cidr,
            closed=state["closed"],
            script=(files / "homeforge-mesh-only").read_text(),
            unit_text=(files / "homeforge-mesh-only@.service").read_text(),
        )["changed"]

    def describe(self, host: str, state: dict) -> str:
        port = self.service.port
        if state["closed"]:
            return f"{port}/tcp only over {self.ctx.iface} ({self.ctx.cidr}) and loopback"
        return f"{port}/tcp open as before"

    def verify(self, host: str) -> str | None:
        """The port refuses the host's own address and each of its global IPv6 addresses
        (from here, where there is a route), and IPv6 has its closing chain."""
        port = self.service.port
        v6 = self.ctx.remote.call(host, firewallops.ipv6_exposure, service=self.service.name)
        if v6["addresses"] and not v6["active"]:
            raise StepFailed(
                f"verify: {host}: has IPv6 addresses ({', '.join(v6['addresses'])}) but no IPv6 "
                "closing rules (ip6tables missing?): the port would still answer over IPv6"
            )
        shown = []
        for address in dict.fromkeys([self.ctx.inv.address(host), *v6["addresses"]]):
            try:
                socket.create_connection((address, port), timeout=2).close()
            except OSError as exc:
                shown.append(f"{address}:{port} {_closed_reason(exc)}")
                continue
            raise StepFailed(f"verify: {host}: {address}:{port} still answers outside the mesh")
        return "closed outside the mesh: " + "; ".join(shown)


def _closed_reason(exc: OSError) -> str:
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return "not reachable from this controller (no route)"
    return f"closed ({exc.strerror or exc})"


class BindExposure(ExposureTarget):
    """The service listens on its mesh address (a drop-in sets its listen variable)."""

    mode = "bind"

    def read(self, host: str) -> dict:
        exposure = self.service.exposure
        state = self.ctx.remote.call(
            host,
            envops.dropin_read,
            unit=exposure.unit,
            name=self.ctx.dropin_name("-bind"),
            names=[exposure.variable],
        )
        if not state["exists"]:
            raise StepFailed(f"{host}: {exposure.unit}: no such systemd unit (the service to bind)")
        return {"values": state["values"]}

    def desired(self, host: str, mesh_address: str) -> dict:
        exposure = self.service.exposure
        value = exposure.value.format(address=mesh_address, port=self.service.port)
        return {"values": {exposure.variable: value}}

    def write(self, host: str, state: dict) -> bool:
        exposure = self.service.exposure
        changed = self.ctx.remote.call(
            host,
            envops.dropin_write,
            unit=exposure.unit,
            name=self.ctx.dropin_name("-bind"),
            values=state["values"],
        )["changed"]
        value = state["values"].get(exposure.variable)
        listen = value.rsplit(":", 1)[0].strip("[]") if value else self.ctx.inv.address(host)
        self.ctx.remote.call(
            host, probeops.wait_listen, address=listen, port=self.service.port, timeout=60
        )
        return changed

    def describe(self, host: str, state: dict) -> str:
        exposure = self.service.exposure
        value = state["values"].get(exposure.variable)
        if value:
            return f"{exposure.unit}: {exposure.variable}={value}"
        return f"{exposure.unit}: {exposure.variable} as before"


class NoExposure(ExposureTarget):
    """The service's exposure is left as it is (consumers move; nothing is closed)."""

    mode = "none"

    def read(self, host: str) -> dict:
        return {}

    def desired(self, host: str, mesh_address: str) -> dict:
        return {}

    def write(self, host: str, state: dict) -> bool:
        return False

    def describe(self, host: str, state: dict) -> str:
        return f"{self.service.port}/tcp exposure unchanged (exposure: none)"


EXPOSURES: dict[str, type[ExposureTarget]] = {
    cls.mode: cls for cls in (FirewallExposure, BindExposure, NoExposure)
}


def exposure_target(ctx: Context) -> ExposureTarget:
    return EXPOSURES[ctx.service.exposure.mode](ctx)


def shown_value(value: str | None) -> str:
    return "(unset)" if value is None else value
