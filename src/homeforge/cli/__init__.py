"""The ``homeforge`` command. Thin: each command parses options, calls one library
function and renders through :mod:`homeforge.display`. One file per command group.

Exit codes: 0 ok · 1 a host failed or was unreachable during a run, or a check
failed · 2 bad input (inventory, arguments, unknown playbook), nothing applied ·
3 environment problem (missing tool, lab in the wrong state) · 130 interrupted.
"""

from __future__ import annotations

import click

from homeforge import __version__
from homeforge.cli import cutover as _cutover  # noqa: F401  (registers mesh services/cutover/rollback)
from homeforge.cli.apply import apply
from homeforge.cli.cluster import cluster
from homeforge.cli.gateway import gateway
from homeforge.cli.inventory import inventory
from homeforge.cli.lab import lab
from homeforge.cli.mesh import mesh
from homeforge.cli.models import models
from homeforge.cli.verify import verify


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]}, epilog=__doc__.split("\n\n")[1]
)
@click.version_option(__version__, prog_name="homeforge")
def main() -> None:
    """Private LLM infrastructure on your own machines, converged by Ansible."""


for command in (apply, cluster, mesh, models, gateway, inventory, verify, lab):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
