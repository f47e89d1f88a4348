"""The ``homeforge`` command. Thin: parse arguments, call the library, print.

Exit codes: 0 ok · 1 a host failed or was unreachable during a run, or a check
failed · 2 bad input (inventory, arguments, unknown playbook), nothing applied ·
3 environment problem (missing tool, lab in the wrong state) · 130 interrupted.
"""

from __future__ import annotations

import functools
import sys
import threading
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from homeforge import __version__, display, paths
from homeforge import inventory as inventory_mod
from homeforge.display import console, error
from homeforge.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BadInput,
    HomeforgeError,
    InventoryInvalid,
)


def _handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InventoryInvalid as exc:
            for line in exc.problems:
                display.err_console.print(Text(line, style="red"), soft_wrap=True)
            error(f"{exc} — nothing was applied")
            sys.exit(exc.exit_code)
        except HomeforgeError as exc:
            error(str(exc))
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            error("interrupted")
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def _inventory_path(given: str | None) -> str:
    if given:
        return given
    from homeforge import lab

    default = lab.inventory_path()
    if default.is_file():
        return str(default)
    raise BadInput("no inventory: pass -i INVENTORY, or run 'homeforge lab up' to use the lab's")


inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory_path",
    metavar="INVENTORY",
    help="Inventory file or directory (default: the lab's, when it is up).",
)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]}, epilog=__doc__.split("\n\n")[1]
)
@click.version_option(__version__, prog_name="homeforge")
def main() -> None:
    """Private LLM infrastructure on your own machines, converged by Ansible."""


# --------------------------------------------------------------------------- apply


@main.command()
@click.argument("playbook")
@inventory_option
@click.option("-l", "--limit", help="Only these hosts (an Ansible pattern).")
@click.option("-t", "--tags", help="Only tasks with these tags (comma-separated).")
@click.option("--skip-tags", help="Skip tasks with these tags.")
@click.option("-C", "--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show the differences in changed files.")
@click.option(
    "-e",
    "--extra-vars",
    multiple=True,
    metavar="KEY=VALUE|@FILE",
    help="Extra variables (repeatable).",
)
@click.option(
    "-f",
    "--forks",
    type=click.IntRange(1, 500),
    help="Parallel hosts (default: number of hosts, 5 to 50).",
)
@click.option(
    "--strategy",
    type=click.Choice(["auto", "mitogen", "linear"]),
    default="auto",
    show_default=True,
    help="auto uses mitogen when installed, else Ansible's linear strategy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print events and the summary as JSON lines.")
@click.option("-v", "--verbose", count=True, help="Pass -v to Ansible (repeatable).")
@_handle_errors
def apply(
    playbook,
    inventory_path,
    limit,
    tags,
    skip_tags,
    check,
    diff,
    extra_vars,
    forks,
    strategy,
    as_json,
    verbose,
):
    """Converge hosts with PLAYBOOK (a name from playbooks/, e.g. 'site', or a path)."""
    from homeforge import runner

    playbook_path = paths.resolve_playbook(playbook)
    inv = inventory_mod.load_and_check(_inventory_path(inventory_path))
    hosts = inv.match(limit) if limit else inv.hosts
    unreachable = runner.unreachable_hosts(inv, hosts)
    if unreachable:
        for line in unreachable:
            display.err_console.print(Text(line, style="red"), soft_wrap=True)
        raise HomeforgeError(f"{len(unreachable)} host(s) unreachable — nothing was applied")

    request = runner.ApplyRequest(
        playbook_path,
        inv,
        limit,
        tags,
        skip_tags,
        check,
        diff,
        list(extra_vars),
        forks,
        strategy,
        verbose,
    )
    cancelled = threading.Event()
    try:
        if as_json:
            result = runner.run_playbook(request, display.JsonEvents().on_event, cancelled)
        else:
            title = (
                f"{playbook_path.name} on {len(hosts)} host(s){' (check mode)' if check else ''}"
            )
            with display.LiveProgress(title, hosts) as progress:
                result = runner.run_playbook(request, progress.on_event, cancelled)
    except KeyboardInterrupt:
        cancelled.set()
        raise
    if as_json:
        display.emit(display.summary(result))
    else:
        display.recap(result)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


# --------------------------------------------------------------------------- mesh


@main.group()
def mesh() -> None:
    """The WireGuard mesh: plan, apply, status, key rotation, cutover and rollback."""


@mesh.command("apply")
@inventory_option
@click.option("-l", "--limit", help="Only these hosts (their peers on other hosts are kept).")
@click.option("-C", "--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show the config differences.")
@click.option("--json", "as_json", is_flag=True, help="Print events and the summary as JSON lines.")
@click.pass_context
def mesh_apply(ctx, inventory_path, limit, check, diff, as_json):
    """Converge only the mesh (playbooks/mesh.yml)."""
    ctx.invoke(
        apply,
        playbook="mesh",
        inventory_path=inventory_path,
        limit=limit,
        check=check,
        diff=diff,
        as_json=as_json,
        tags=None,
        skip_tags=None,
        extra_vars=(),
        forks=None,
        strategy="auto",
        verbose=0,
    )


@mesh.command("status")
@inventory_option
@click.option("--json", "as_json", is_flag=True)
@_handle_errors
def mesh_status(inventory_path, as_json):
    """Per peer: latest handshake, transfer and endpoint, read from the hosts."""
    from homeforge import mesh as mesh_mod

    inv = inventory_mod.load_and_check(_inventory_path(inventory_path))
    iface, _cidr, _members, live = mesh_mod.live_mesh(inv)
    names = {h.public_key: h.host for h in live.values() if h.public_key}
    healthy = all(
        not h.error and h.peers and all(p.latest_handshake for p in h.peers) for h in live.values()
    )
    if as_json:
        display.emit(
            {
                "interface": iface,
                "healthy": healthy,
                "hosts": [
                    {
                        "host": h.host,
                        "address": h.address,
                        "public_key": h.public_key,
                        "error": h.error,
                        "peers": [dict(vars(p), name=names.get(p.public_key)) for p in h.peers],
                    }
                    for h in live.values()
                ],
            }
        )
        sys.exit(EXIT_OK if healthy else EXIT_FAILED)
    for h in live.values():
        table = Table(title=f"{h.host} {h.address or ''} ({iface})", title_justify="left")
        for col in ("peer", "endpoint", "allowed ips", "latest handshake", "received", "sent"):
            table.add_column(col)
        if h.error:
            table.add_row("-", "-", "-", Text(h.error, style="red"), "-", "-")
        for p in h.peers:
            age = mesh_mod.handshake_age(p.latest_handshake)
            table.add_row(
                names.get(p.public_key, p.public_key[:10] + "..."),
                p.endpoint or "(roaming)",
                ", ".join(p.allowed_ips),
                Text(age, style="red" if age == "never" else "green"),
                f"{p.rx} B",
                f"{p.tx} B",
            )
        console.print(table)
    sys.exit(EXIT_OK if healthy else EXIT_FAILED)


@mesh.command("rotate-keys")
@inventory_option
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Host whose key to replace (repeatable; default: every mesh host, one at a time).",
)
@click.option("--json", "as_json", is_flag=True)
@_handle_errors
def mesh_rotate_keys(inventory_path, hosts, as_json):
    """Replace hosts' keys and update every peer, measuring the interruption."""
    import json as json_mod
    import time

    from homeforge import mesh as mesh_mod
    from homeforge import runner

    inv = inventory_mod.load_and_check(_inventory_path(inventory_path))
    iface, _cidr, members = mesh_mod.mesh_settings(inv)
    unknown = [h for h in hosts if h not in members]
    if unknown:
        raise BadInput(f"--host {', '.join(unknown)}: not in the mesh of {inv.path}")
    live = mesh_mod.read(inv, members, iface)
    unreadable = [f"{h.host}: {h.error}" for h in live.values() if h.error]
    if unreadable:
        raise HomeforgeError("cannot read the mesh, nothing was rotated: " + "; ".join(unreadable))
    rotations = []
    for target in hosts or members:
        observer = next(
            m for m in members if m != target and inv.hostvars[m].get("wireguard_reachable", True)
        )
        pinger = mesh_mod.Pinger(inv, observer, live[target].address)
        started = time.monotonic()
        request = runner.ApplyRequest(
            paths.resolve_playbook("mesh"),
            inv,
            extra_vars=[json_mod.dumps({"wireguard_rotate_hosts": [target]})],
        )
        result = runner.run_playbook(request)
        elapsed = time.monotonic() - started
        sent, lost = pinger.stop()
        after = mesh_mod.read(inv, [target], iface)[target]
        rotation = mesh_mod.Rotation(
            target,
            live[target].public_key,
            after.public_key,
            observer,
            sent,
            lost,
            result.ok,
            elapsed,
        )
        rotations.append(rotation)
        if not as_json:
            verdict = "rotated" if result.ok and rotation.new_key != rotation.old_key else "FAILED"
            console.print(
                f"{target}: {verdict} {rotation.old_key[:8]}... -> {rotation.new_key[:8]}... in "
                f"{elapsed:.1f}s; {observer} -> {target}: {lost} of {sent} echo requests lost "
                f"(~{rotation.interruption_s:.1f}s interruption)"
            )
        if not result.ok:
            for failure in result.failures:
                display.err_console.print(
                    Text(f"{failure.host}: {failure.task}: {failure.message}", style="red")
                )
            break
    if as_json:
        display.emit(
            {"rotations": [dict(vars(r), interruption_s=r.interruption_s) for r in rotations]}
        )
    ok = all(r.apply_ok and r.new_key != r.old_key for r in rotations)
    sys.exit(EXIT_OK if ok else EXIT_FAILED)


def _cutover_engine(inventory_path, service_name, as_json):
    from homeforge import cutover, services
    from homeforge import mesh as mesh_mod

    inv = inventory_mod.load_and_check(_inventory_path(inventory_path))
    service = services.get(inv, service_name)
    iface, cidr, _members = mesh_mod.mesh_settings(inv)
    styles = {
        "ok": "green",
        "change": "yellow",
        "would": "yellow",
        "fail": "red",
        "warn": "magenta",
    }
    marks = {"ok": "ok", "change": "changed", "would": "would", "fail": "FAILED", "warn": "warning"}

    def report(event):
        if as_json:
            display.emit({"event": vars(event)})
            return
        where = f"{event.host}: " if event.host else ""
        mark = marks.get(event.status, event.status)
        console.print(
            Text(
                f"{event.elapsed:6.1f}s {event.step:9} {mark:8} {where}{event.message}",
                style=styles.get(event.status, ""),
            ),
            soft_wrap=True,
        )

    return cutover.Engine(inv, service, iface, cidr, report)


def _run_engine(inventory_path, service_name, as_json, action) -> None:
    engine = _cutover_engine(inventory_path, service_name, as_json)
    try:
        result = action(engine)
    finally:
        engine.close()
    if as_json:
        display.emit({"summary": result})


@mesh.command("services")
@inventory_option
@click.option("--json", "as_json", is_flag=True)
@_handle_errors
def mesh_services(inventory_path, as_json):
    """Declared services (homeforge_services) and where each one's cutover stands."""
    from homeforge import cutover, services
    from homeforge import mesh as mesh_mod

    inv = inventory_mod.load_and_check(_inventory_path(inventory_path))
    _iface, _cidr, members = mesh_mod.mesh_settings(inv)
    declared, _problems = services.parse(inv, members)
    rows = []
    for name, service in declared.items():
        journal = cutover.journal_summary(name)
        rows.append(
            {
                "service": name,
                "port": service.port,
                "hosts": list(service.hosts),
                "consumers": [c.label for c in service.consumers],
                "exposure": service.exposure.mode,
                "state": journal["phase"] if journal else "legacy (never cut over)",
                "since": journal["updated"] if journal else None,
                "journal": journal["path"] if journal else None,
            }
        )
    if as_json:
        display.emit({"services": rows})
        return
    if not rows:
        console.print(f"{inv.path}: no services declared (homeforge_services)")
        return
    table = Table(title="services", title_justify="left")
    for col in ("service", "port", "hosts", "consumers", "exposure", "state", "since"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            row["service"],
            str(row["port"]),
            ", ".join(row["hosts"]),
            "\n".join(row["consumers"]),
            row["exposure"],
            row["state"],
            row["since"] or "-",
        )
    console.print(table)


@mesh.command("cutover")
@click.argument("service")
@inventory_option
@click.option(
    "-C", "--check", is_flag=True, help="Preflight and shadow only; show what would change."
)
@click.option("--json", "as_json", is_flag=True, help="Print steps and the result as JSON lines.")
@_handle_errors
def mesh_cutover(service, inventory_path, check, as_json):
    """Move SERVICE's consumers onto the mesh: preflight, shadow, switch, expose, verify.

    Every change is journaled first (STATE/cutover/SERVICE.json); a failure rolls
    back on its own, Ctrl-C stops between steps, and running cutover again resumes.
    """
    _run_engine(inventory_path, service, as_json, lambda engine: engine.cutover(check=check))


@mesh.command("rollback")
@click.argument("service")
@inventory_option
@click.option("-C", "--check", is_flag=True, help="Show what would be restored; change nothing.")
@click.option("--force", is_flag=True, help="Restore even when the legacy endpoints do not answer.")
@click.option("--json", "as_json", is_flag=True, help="Print steps and the result as JSON lines.")
@_handle_errors
def mesh_rollback(service, inventory_path, check, force, as_json):
    """Restore SERVICE's journaled endpoints and exposure, and verify the legacy path."""
    _run_engine(
        inventory_path, service, as_json, lambda engine: engine.rollback(check=check, force=force)
    )


@mesh.command("plan")
@inventory_option
@click.option("--json", "as_json", is_flag=True)
@_handle_errors
def mesh_plan(inventory_path, as_json):
    """Per host: the peers a converge would add, change or remove. Changes nothing."""
    from homeforge import mesh as mesh_mod

    inv = inventory_mod.load_and_check(_inventory_path(inventory_path))
    _iface, cidr, members, live = mesh_mod.live_mesh(inv)
    changes = mesh_mod.plan_changes(inv, live, cidr, members)
    if as_json:
        display.emit(
            {
                "hosts": {h: [vars(c) for c in cs] for h, cs in changes.items()},
                "unreadable": {h.host: h.error for h in live.values() if h.error},
            }
        )
        return
    for host, items in changes.items():
        note = f" (not readable: {live[host].error})" if live[host].error else ""
        console.print(Text(f"{host}: {len(items) or 'no'} change(s){note}", style="bold"))
        for c in items:
            style = {"add": "green", "remove": "red"}.get(c.action, "yellow")
            console.print(Text(f"  {c.action:6} {c.peer}: {c.detail}", style=style))


# --------------------------------------------------------------------------- inventory


@main.group()
def inventory() -> None:
    """Inspect and validate inventories."""


@inventory.command("check")
@inventory_option
@click.option("--json", "as_json", is_flag=True, help="Print problems as a JSON list.")
@_handle_errors
def inventory_check(inventory_path, as_json):
    """Validate an inventory: addresses, groups, role variables, CIDRs."""
    path = _inventory_path(inventory_path)
    try:
        inv = inventory_mod.load(path)
        problems = inventory_mod.check(inv)
    except InventoryInvalid as exc:
        problems, inv = exc.problems, None
    if as_json:
        display.emit({"inventory": path, "ok": not problems, "problems": problems})
        sys.exit(2 if problems else 0)
    if problems:
        raise InventoryInvalid(problems)
    console.print(f"{path}: ok ({len(inv.hosts)} hosts, {len(inv.groups)} groups)")


# --------------------------------------------------------------------------- verify


@main.command()
@inventory_option
@click.option("-l", "--limit", help="Only these hosts (an Ansible pattern).")
@click.option(
    "--playbook",
    default="site",
    show_default=True,
    help="Which playbook decides the roles a host carries.",
)
@click.option(
    "--junit",
    "junit_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for JUnit XML (default: .homeforge/verify/<timestamp>/).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@_handle_errors
def verify(inventory_path, limit, playbook, junit_dir, as_json):
    """Run each role's testinfra suite against the hosts that carry it."""
    from homeforge import verify as verify_mod

    playbook_path = paths.resolve_playbook(playbook)
    inv = inventory_mod.load_and_check(_inventory_path(inventory_path))
    hosts = verify_mod.require_inventory_hosts(inv, limit)
    out_dir = junit_dir or verify_mod.default_out_dir()
    reports = verify_mod.run(inv, hosts, playbook_path, out_dir)
    if as_json:
        display.emit(
            {
                "ok": all(r.ok for r in reports),
                "junit": str(out_dir / "junit.xml"),
                "hosts": [
                    {
                        "host": r.host,
                        "address": r.address,
                        "roles": r.roles,
                        "error": r.error,
                        "checks": [vars(c) for c in r.checks],
                    }
                    for r in reports
                ],
            }
        )
    else:
        for report in reports:
            table = Table(
                title=f"{report.host} ({report.address}) · roles: {', '.join(report.roles) or '-'}",
                title_justify="left",
            )
            table.add_column("role")
            table.add_column("check")
            table.add_column("result")
            table.add_column("detail", overflow="fold")
            for c in report.checks:
                style = {"passed": "green", "skipped": "yellow"}.get(c.outcome, "red")
                table.add_row(c.role, c.name, Text(c.outcome, style=style), c.message)
            if report.error:
                table.add_row("-", "connect", Text("error", style="red"), report.error)
            console.print(table)
        passed = sum(c.outcome == "passed" for r in reports for c in r.checks)
        failed = sum(c.outcome in ("failed", "error") for r in reports for c in r.checks) + sum(
            1 for r in reports if r.error
        )
        console.print(f"{passed} passed, {failed} failed · junit {out_dir / 'junit.xml'}")
    sys.exit(EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED)


# --------------------------------------------------------------------------- lab


@main.group()
def lab() -> None:
    """The built-in lab: podman systemd containers acting as hosts."""


lab_name_option = click.option(
    "--name", default="homeforge-lab", show_default=True, help="Lab name."
)


@lab.command("up")
@click.option("-n", "--nodes", type=int, default=3, show_default=True, help="Number of hosts.")
@click.option(
    "--subnet", default="10.254.90.0/24", show_default=True, help="The lab network's IPv4 subnet."
)
@click.option("--privileged", is_flag=True, help="Privileged hosts (needed by K3s).")
@lab_name_option
@_handle_errors
def lab_up(nodes, subnet, privileged, name):
    """Create the lab hosts and write their inventory."""
    from homeforge import lab as lab_mod

    created = lab_mod.up(nodes, name, subnet, privileged, log=lambda m: console.print(m))
    table = Table(title=f"lab '{created.name}' up", title_justify="left")
    for col in ("host", "address", "container"):
        table.add_column(col)
    for host in created.hosts:
        table.add_row(host.name, host.address, host.container)
    console.print(table)
    console.print(f"inventory: {lab_mod.inventory_path(name)}")
    console.print("next: homeforge apply site")


@lab.command("down")
@lab_name_option
@click.option("--image", "remove_image", is_flag=True, help="Also remove the cached base image.")
@_handle_errors
def lab_down(name, remove_image):
    """Remove everything 'lab up' created."""
    from homeforge import lab as lab_mod

    removed = lab_mod.down(name, remove_image)
    console.print(
        f"removed: {', '.join(removed)}" if removed else f"lab '{name}': nothing to remove"
    )


@lab.command("image")
@_handle_errors
def lab_image():
    """Build the lab's base image if needed and print its tag (molecule uses it)."""
    from homeforge.lab import image, podman

    podman.require()
    click.echo(image.ensure(log=lambda m: display.err_console.print(m)))


@lab.command("status")
@lab_name_option
@click.option("--json", "as_json", is_flag=True)
@_handle_errors
def lab_status(name, as_json):
    """Hosts, addresses and health."""
    from homeforge import lab as lab_mod

    health = lab_mod.status(name)
    healthy = all(
        h.state == "running" and h.ssh and h.systemd in ("running", "degraded") for h in health
    )
    if as_json:
        display.emit({"lab": name, "healthy": healthy, "hosts": [vars(h) for h in health]})
    else:
        table = Table(title=f"lab '{name}'", title_justify="left")
        for col in ("host", "address", "container", "state", "systemd", "ssh"):
            table.add_column(col)
        for h in health:
            table.add_row(
                h.name,
                h.address,
                h.container,
                h.state,
                h.systemd,
                Text("up" if h.ssh else "down", style="green" if h.ssh else "red"),
            )
        console.print(table)
    sys.exit(EXIT_OK if healthy else EXIT_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
