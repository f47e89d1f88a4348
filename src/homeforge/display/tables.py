"""Tables for everything homeforge shows: mesh status and plan, services, verify, the lab."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from homeforge.display import console


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold" if col == "detail" else None)
    return table


def mesh_status(live) -> None:
    """One table per host: its peers' endpoints, handshakes and transfer."""
    from homeforge.wireguard.live import handshake_age

    names = live.names_by_key
    iface = live.settings.interface
    columns = ("peer", "endpoint", "allowed ips", "latest handshake", "received", "sent")
    for h in live.hosts.values():
        table = _table(f"{h.host} {h.address or ''} ({iface})", columns)
        if h.error:
            table.add_row("-", "-", "-", Text(h.error, style="red"), "-", "-")
        for p in h.peers:
            age = handshake_age(p.latest_handshake)
            table.add_row(
                names.get(p.public_key, p.public_key[:10] + "..."),
                p.endpoint or "(roaming)",
                ", ".join(p.allowed_ips),
                Text(age, style="red" if age == "never" else "green"),
                f"{p.rx} B",
                f"{p.tx} B",
            )
        console.print(table)


def mesh_plan(changes: dict, unreadable: dict[str, str]) -> None:
    for host, items in changes.items():
        note = f" (not readable: {unreadable[host]})" if host in unreadable else ""
        console.print(Text(f"{host}: {len(items) or 'no'} change(s){note}", style="bold"))
        for c in items:
            style = {"add": "green", "remove": "red"}.get(c.action, "yellow")
            console.print(Text(f"  {c.action:6} {c.peer}: {c.detail}", style=style))


def services(rows: list[dict]) -> None:
    table = _table(
        "services", ("service", "port", "hosts", "consumers", "exposure", "state", "since")
    )
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


def verify_reports(reports, junit) -> None:
    for report in reports:
        title = f"{report.host} ({report.address}) · roles: {', '.join(report.roles) or '-'}"
        table = _table(title, ("role", "check", "result", "detail"))
        for c in report.checks:
            style = {"passed": "green", "skipped": "yellow"}.get(c.outcome, "red")
            style = "yellow" if c.subject and c.outcome == "passed" else style
            table.add_row(c.role, c.name, Text(c.shown, style=style), c.message)
        if report.error:
            table.add_row("-", "connect", Text("error", style="red"), report.error)
        console.print(table)
    passed = sum(c.outcome == "passed" for r in reports for c in r.checks)
    failed = sum(c.outcome in ("failed", "error") for r in reports for c in r.checks)
    failed += sum(1 for r in reports if r.error)
    standin = sum(c.outcome == "passed" and bool(c.subject) for r in reports for c in r.checks)
    against = f" ({standin} of them against stand-ins)" if standin else ""
    console.print(f"{passed} passed{against}, {failed} failed · junit {junit}")


def lab_created(created, inventory) -> None:
    table = _table(f"lab '{created.name}' up", ("host", "address", "container"))
    for host in created.hosts:
        table.add_row(host.name, host.address, host.container)
    console.print(table)
    console.print(f"inventory: {inventory}")
    console.print("next: homeforge apply site")


def lab_health(name: str, health) -> None:
    table = _table(f"lab '{name}'", ("host", "address", "container", "state", "systemd", "ssh"))
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


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def models(found) -> None:
    table = _table("Ollama models", ("host", "model", "size", "digest", "from"))
    for entry in found:
        if entry.error:
            table.add_row(entry.host, f"[red]{entry.error}[/red]", "", "", "")
        elif not entry.models:
            table.add_row(entry.host, "(none)", "", "", "")
        for model in entry.models:
            origin = model.get("origin") or "[dim]unknown (not fetched by homeforge)[/dim]"
            table.add_row(
                entry.host,
                model.get("name", "?"),
                _size(int(model.get("size") or 0)),
                str(model.get("digest", ""))[:12],
                origin,
            )
    console.print(table)


def seed(result) -> None:
    table = _table(
        f"Seeded {result.model} ({_size(result.size)}, {result.digest[:12]}) from {result.source}",
        ("host", "result", "fetched", "transferred"),
    )
    for host, outcome in result.targets.items():
        if isinstance(outcome, dict):
            what = "installed" if outcome["changed"] else "already there"
            table.add_row(
                host,
                f"[green]{what}[/green]",
                f"{outcome['fetched']} blob(s)",
                _size(outcome["transferred"]),
            )
        else:
            table.add_row(host, f"[red]{outcome}[/red]", "", "")
    console.print(table)


def cluster(found) -> None:
    table = _table(
        f"K3s nodes (as {found.server} sees them)",
        ("node", "roles", "version", "ready", "GPUs", "address"),
    )
    for node in found.nodes:
        ready = "[green]Ready[/green]" if node.ready else "[red]NotReady[/red]"
        table.add_row(node.name, ",".join(node.roles), node.version, ready, node.gpus, node.address)
    for name in found.missing:
        table.add_row(name, "", "", "[red]not registered[/red]", "", "")
    console.print(table)
    if found.storage:
        classes = _table(
            "Storage classes", ("class", "default", "provisioner", "reclaim", "binding")
        )
        for sc in found.storage:
            classes.add_row(
                sc.name, "yes" if sc.default else "", sc.provisioner, sc.reclaim, sc.binding
            )
        console.print(classes)
    if found.endpoints:
        routes = _table("HTTPS endpoints", ("hosts", "via", "TLS secret", "issuer", "expires"))
        for ep in found.endpoints:
            if not ep.issuer:
                issuer, expires = "[yellow]no Certificate for this secret[/yellow]", ""
            elif ep.expires:
                issuer = ep.issuer
                expires = ep.expires if ep.ready else f"[red]{ep.expires} (not Ready)[/red]"
            else:
                issuer, expires = ep.issuer, "[yellow]not issued yet[/yellow]"
            routes.add_row(
                ", ".join(ep.hosts),
                f"{ep.kind} {ep.namespace}/{ep.name}",
                ep.secret,
                issuer,
                expires,
            )
        console.print(routes)


def model_run(outcome) -> None:
    verb = "pulled" if outcome.wanted == "present" else "removed"
    table = _table(f"{outcome.model} {verb}", ("host", "state", "size", "digest"))
    for host in outcome.outcomes:
        if host.state == "failed":
            table.add_row(host.host, f"[red]failed: {host.error}[/red]", "", "")
            continue
        good = host.state == outcome.wanted
        state = f"[green]{host.state}[/green]" if good else f"[red]{host.state}[/red]"
        table.add_row(host.host, state, _size(host.size) if host.size else "", host.digest[:12])
    console.print(table)


def recap(name: str, rows) -> None:
    table = _table(f"What ran for real in lab '{name}', and what did not", ("part", "how it ran"))
    for part, how in rows:
        table.add_row(part, f"[yellow]{how}[/yellow]" if "STAND-IN" in how else how)
    console.print(table)


def gateway_key(issued: dict) -> None:
    """A key shown once, with what to do with it."""
    verb = "rotated" if issued.get("rotated") else "issued"
    console.print(
        f"{issued['host']}: key {verb} for {issued['name']} (shown once; homeforge keeps no copy):"
    )
    console.print(issued["key"], markup=False, highlight=False, soft_wrap=True)


def _when(at) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "-"


def gateway_consumers(found: dict) -> None:
    table = _table(
        f"{found['host']}: gateway consumers", ("consumer", "models", "rpm", "tpm", "key", "detail")
    )
    for name, c in found["consumers"].items():
        if c["has_key"]:
            key, detail = Text("yes", style="green"), f"issued {_when(c['issued_at'])}"
        else:
            key = Text("no", style="yellow")
            detail = f"revoked {_when(c['revoked_at'])}" if c["revoked_at"] else "no key issued"
        if not c["declared"]:
            detail += "; not declared in ai_gateway_consumers (its key is refused)"
        table.add_row(
            name,
            ", ".join(c["models"]) or "-",
            str(c["rpm"] or "-"),
            str(c["tpm"] or "-"),
            key,
            detail,
        )
    console.print(table)


def gateway_usage(found: dict) -> None:
    columns = (
        "consumer",
        "model",
        "requests",
        "errors",
        "tokens in",
        "tokens out",
        "p50 ms",
        "p99 ms",
    )
    table = _table(f"{found['host']}: gateway usage", columns)
    for r in found["rows"]:
        table.add_row(
            r["consumer"],
            r["model"],
            str(r["requests"]),
            Text(str(r["errors"]), style="red" if r["errors"] else ""),
            str(r["tokens_in"]),
            str(r["tokens_out"]),
            "-" if r["p50_ms"] is None else f"{r['p50_ms']:.1f}",
            "-" if r["p99_ms"] is None else f"{r['p99_ms']:.1f}",
        )
    console.print(table)


def gateway_answer(answer: dict) -> None:
    usage = answer.get("usage") or {}
    console.print(
        f"{answer['host']}: {answer['model']} answered through the gateway in {answer['seconds']:.2f} s "
        f"({usage.get('prompt_tokens', '?')} tokens in, {usage.get('completion_tokens', '?')} out):"
    )
    console.print(answer["answer"], markup=False, highlight=False)
