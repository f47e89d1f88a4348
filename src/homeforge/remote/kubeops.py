"""Kubernetes Deployments a consumer runs as: their environment, read and switched.

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text) run with
the host's own kubectl (the inventory's command for it, split as a shell would): the
mesh cutover reads a Deployment's variables and sets them, then waits for the rollout.
Only a plain value set once is switched.
"""

import json
import shlex

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError, _run


def _kubectl(kubectl, *args):
    return _run(shlex.split(kubectl) + list(args), timeout=300)


def deployment_read(kubectl, namespace, name, names, container=""):
    done = _kubectl(kubectl, "-n", namespace, "get", "deployment", name, "-o", "json")
    spec = json.loads(done.stdout)["spec"]["template"]["spec"]
    containers = [c for c in spec.get("containers", []) if not container or c["name"] == container]
    if not containers:
        raise OpError("deployment %s/%s has no container %r" % (namespace, name, container))
    env = {}
    for item in containers[0].get("env", []):
        if item["name"] not in names:
            continue
        if item["name"] in env or "valueFrom" in item:
            how = "twice" if item["name"] in env else "through valueFrom"
            raise OpError(
                "deployment %s/%s sets %s %s; homeforge switches only a plain value set once"
                % (namespace, name, item["name"], how)
            )
        env[item["name"]] = item.get("value")
    return {"exists": True, "values": dict((n, env.get(n)) for n in names)}


def deployment_write(kubectl, namespace, name, values, container="", timeout=180, settle=False):
    current = deployment_read(kubectl, namespace, name, list(values), container)["values"]
    if current == values and not settle:
        return {"changed": False}
    args = ["-n", namespace, "set", "env", "deployment/" + name]
    if container:
        args += ["-c", container]
    for key in sorted(values):
        args.append(key + "-" if values[key] is None else "%s=%s" % (key, values[key]))
    if current != values:
        _kubectl(kubectl, *args)
    _kubectl(
        kubectl,
        "-n",
        namespace,
        "rollout",
        "status",
        "deployment/" + name,
        "--timeout=%ds" % timeout,
    )
    return {"changed": current != values}


OPS = {fn.__name__: fn for fn in (deployment_read, deployment_write)}
