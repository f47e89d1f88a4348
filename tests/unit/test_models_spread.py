"""A model several hosts of the mesh want crosses the uplink once in a converge
(homeforge.models.spread): which hosts leave it to the converge, where it comes from,
the fall-back to the registry, and check mode. Seeding and pulling themselves are
replaced by recorders here; the lab runs them for real (tests/integration/test_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from homeforge import inventory
from homeforge.converge import ConvergeResult, _seeded
from homeforge.display import progress
from homeforge.models import spread
from homeforge.remote import RemoteError
from homeforge.runner import HostStats

ROOT = Path(__file__).resolve().parents[2]

INVENTORY = """
all:
  vars: {wireguard_group: mesh}
  children:
    mesh:
      hosts:
        gpu-a: {ansible_host: 192.0.2.10}
        gpu-b: {ansible_host: 192.0.2.11}
        gpu-c: {ansible_host: 192.0.2.12}
        gpu-k: {ansible_host: 192.0.2.14}
        gpu-t: {ansible_host: 192.0.2.15}
    ollama:
      hosts:
        gpu-a: {ollama_models: [tiny:1b, big:70b]}
        gpu-b: {ollama_models: [registry.ollama.ai/library/tiny:1b]}
        gpu-c: {ollama_models: [tiny:1b, solo:1b]}
        gpu-out: {ansible_host: 192.0.2.13, ollama_models: [tiny:1b, big:70b]}
        gpu-k: {ollama_mode: kubernetes, ollama_models: [tiny:1b]}
        gpu-t: {ollama_models: "{{ my_models }}"}
"""


@pytest.fixture
def inv(write):
    return inventory.load(write("inv/hosts.yml", INVENTORY))


def test_only_models_two_mesh_hosts_want_in_host_mode_are_left_to_the_converge(inv):
    assert spread.deferred(inv) == {
        "tiny:1b": {
            "gpu-a": "tiny:1b",
            "gpu-b": "registry.ollama.ai/library/tiny:1b",  # the same model, as written
            "gpu-c": "tiny:1b",
        }
    }
    # gpu-out is outside the mesh, gpu-k in Kubernetes mode, gpu-t's list a template:
    # they pull for themselves; big:70b is then wanted by one mesh host only
    assert spread.role_variable(spread.deferred(inv)) == {
        "gpu-a": ["tiny:1b"],
        "gpu-b": ["registry.ollama.ai/library/tiny:1b"],
        "gpu-c": ["tiny:1b"],
    }
    [extra] = spread.extra_vars(inv)
    assert json.loads(extra) == {"ollama_seeded_models": spread.role_variable(spread.deferred(inv))}


def test_no_model_wanted_twice_passes_nothing(write):
    inv = inventory.load(
        write(
            "inv/hosts.yml",
            """
            all:
              vars: {wireguard_group: all}
              children:
                ollama:
                  hosts:
                    a: {ansible_host: 192.0.2.1, ollama_models: [tiny:1b]}
                    b: {ansible_host: 192.0.2.2, ollama_models: [other:1b]}
            """,
        )
    )
    assert spread.deferred(inv) == {} and spread.extra_vars(inv) == []


def test_the_role_skips_exactly_the_models_left_to_the_converge():
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    tasks = yaml.safe_load((ROOT / "roles/ollama/tasks/models.yml").read_text())
    [task] = [t for t in tasks if t.get("name") == "Models present"]
    seeded = {"gpu-b": ["registry.ollama.ai/library/tiny:1b"]}
    for host, want in (
        ("gpu-b", ["big:70b"]),
        ("gpu-a", ["registry.ollama.ai/library/tiny:1b", "big:70b"]),
    ):
        variables = {
            "ollama_models": ["registry.ollama.ai/library/tiny:1b", "big:70b"],
            "ollama_seeded_models": seeded,
            "inventory_hostname": host,
        }
        templar = Templar(loader=DataLoader(), variables=variables)
        assert templar.template(trust_as_template(task["loop"])) == want


class Listing:
    """Each host's /api/tags models; a host named in ``down`` cannot be reached."""

    def __init__(self, models: dict[str, list[str]], down: tuple[str, ...] = ()):
        self.models, self.down, self.asked = models, down, []

    def call(self, host, op, **kwargs):
        self.asked.append(host)
        if host in self.down:
            raise RemoteError(f"{host}: cannot connect over SSH")
        names = self.models.get(host, [])
        return {"models": [{"name": n, "digest": "d" * 64} for n in names]}


class Recorder:
    """Stands for homeforge.models.seed and pulls.run: records the calls, fails as told."""

    def __init__(self, seed_fails=None, pull_fails=None, seed_raises=None):
        self.seed_fails, self.pull_fails = seed_fails or {}, pull_fails or {}
        self.seed_raises, self.calls = seed_raises, []

    def seed(self, inv, model, source, targets):
        self.calls.append(("seed", model, source, tuple(targets)))
        if source in (self.seed_raises or {}):
            raise self.seed_raises[source]
        results = {t: self.seed_fails.get(t) or {"changed": True} for t in targets}
        return type("Seeded", (), {"size": 64_000_000, "targets": results})()

    def pull(self, inv, name, wanted, hosts):
        self.calls.append(("pull", name, tuple(hosts)))
        outcomes = [
            type(
                "O",
                (),
                {
                    "host": h,
                    "state": "failed" if h in self.pull_fails else "present",
                    "error": self.pull_fails.get(h, ""),
                },
            )()
            for h in hosts
        ]
        return type("Run", (), {"outcomes": outcomes})()


@pytest.fixture
def recorder(monkeypatch):
    def use(**kwargs):
        rec = Recorder(**kwargs)
        monkeypatch.setattr(spread, "seed", rec.seed)
        monkeypatch.setattr(spread, "pull", rec.pull)
        return rec

    return use


ALL = ["gpu-a", "gpu-b", "gpu-c"]


def test_with_no_copy_anywhere_the_first_host_pulls_once_and_seeds_the_others(inv, recorder):
    rec = recorder()
    [done] = spread.spread(inv, ALL, set(ALL), Listing({}), check=False)
    assert rec.calls == [
        ("pull", "tiny:1b", ("gpu-a",)),
        ("seed", "tiny:1b", "gpu-a", ("gpu-b", "gpu-c")),
    ]
    assert done.ok and done.pulled and done.changed_hosts == ALL
    assert done.line() == (
        "model tiny:1b: pulled once from the registry on gpu-a; seeded from gpu-a to gpu-b,"
        " gpu-c (over the mesh, 64.0 MB each)"
    )


def test_a_host_that_has_it_is_the_source_even_outside_the_limit(inv, recorder):
    rec = recorder()
    listing = Listing({"gpu-c": ["tiny:1b", "solo:1b"]})
    [done] = spread.spread(inv, ["gpu-a"], {"gpu-a"}, listing, check=False)
    assert rec.calls == [("seed", "tiny:1b", "gpu-c", ("gpu-a",))]
    assert not done.pulled and done.changed_hosts == ["gpu-a"]
    assert sorted(listing.asked) == ALL  # the hosts that want it, asked once each


def test_nothing_happens_when_every_host_has_it_and_a_failed_host_is_no_target(inv, recorder):
    rec = recorder()
    listing = Listing({h: ["tiny:1b"] for h in ALL})
    assert spread.spread(inv, ALL, set(ALL), listing, check=False) == []
    listing = Listing({"gpu-a": ["tiny:1b"], "gpu-b": ["tiny:1b"]})
    assert spread.spread(inv, ALL, {"gpu-a", "gpu-b"}, listing, check=False) == []
    assert rec.calls == []


def test_a_host_that_cannot_be_listed_is_no_source(inv, recorder):
    rec = recorder()
    listing = Listing({"gpu-c": ["tiny:1b"]}, down=("gpu-c",))
    [done] = spread.spread(inv, ["gpu-a", "gpu-b"], {"gpu-a", "gpu-b"}, listing, check=False)
    assert rec.calls[0] == ("pull", "tiny:1b", ("gpu-a",)) and done.source == "gpu-a"


def test_a_failed_seeding_falls_back_to_the_registry_with_a_line(inv, recorder):
    rec = recorder(seed_fails={"gpu-c": "gpu-c: seed_fetch: connection refused\nmore"})
    [done] = spread.spread(inv, ALL, set(ALL), Listing({"gpu-a": ["tiny:1b"]}), check=False)
    assert rec.calls[-1] == ("pull", "tiny:1b", ("gpu-c",))
    assert (
        done.ok
        and done.seeded == ["gpu-b"]
        and done.fell_back == {"gpu-c": "seeding failed (gpu-c: seed_fetch: connection refused)"}
    )
    assert done.line() == (
        "model tiny:1b: seeded from gpu-a to gpu-b (over the mesh, 64.0 MB each); gpu-c pulled"
        " it from the registry: seeding failed (gpu-c: seed_fetch: connection refused)"
    )


def test_a_holder_that_cannot_offer_it_gives_way_to_the_next_one(inv, recorder):
    rec = recorder(seed_raises={"gpu-a": RemoteError("gpu-a: blob sha256:1 is missing")})
    listing = Listing({"gpu-a": ["tiny:1b"], "gpu-b": ["tiny:1b"]})
    [done] = spread.spread(inv, ALL, set(ALL), listing, check=False)
    assert rec.calls == [
        ("seed", "tiny:1b", "gpu-a", ("gpu-c",)),
        ("seed", "tiny:1b", "gpu-b", ("gpu-c",)),
    ]
    assert done.ok and done.source == "gpu-b" and done.seeded == ["gpu-c"]


def test_holders_the_converge_ran_cleanly_come_first(inv, recorder):
    rec = recorder()
    listing = Listing({"gpu-a": ["tiny:1b"], "gpu-b": ["tiny:1b"]})
    spread.spread(inv, ["gpu-b", "gpu-c"], {"gpu-b", "gpu-c"}, listing, check=False)
    assert rec.calls == [("seed", "tiny:1b", "gpu-b", ("gpu-c",))]  # gpu-a: outside the limit


def test_when_no_source_can_offer_it_every_target_goes_to_the_registry(inv, recorder):
    gone = RemoteError("gpu-a: cannot connect over SSH: timed out")
    rec = recorder(seed_raises={"gpu-a": gone})
    [done] = spread.spread(inv, ALL, set(ALL), Listing({"gpu-a": ["tiny:1b"]}), check=False)
    assert rec.calls[-1] == ("pull", "tiny:1b", ("gpu-b", "gpu-c"))
    assert done.ok and done.fell_back == dict.fromkeys(
        ["gpu-b", "gpu-c"], "seeding failed (gpu-a: cannot connect over SSH: timed out)"
    )


def test_when_the_registry_fails_too_the_converge_fails_naming_the_host(inv, recorder):
    recorder(seed_fails={"gpu-c": "refused"}, pull_fails={"gpu-c": "registry unreachable"})
    [done] = spread.spread(inv, ALL, set(ALL), Listing({"gpu-a": ["tiny:1b"]}), check=False)
    assert not done.ok
    assert done.missing == {
        "gpu-c": "seeding failed (refused), then its own pull failed: registry unreachable"
    }
    result = ConvergeResult(run=None, probe_elapsed=0.1)
    _seeded(result, [done], check=False)
    assert not result.ok


def test_a_failed_first_pull_sends_the_other_hosts_to_the_registry(inv, recorder):
    rec = recorder(pull_fails={"gpu-a": "pull tiny:1b: no space left"})
    [done] = spread.spread(inv, ALL, set(ALL), Listing({}), check=False)
    assert rec.calls == [("pull", "tiny:1b", ("gpu-a",)), ("pull", "tiny:1b", ("gpu-b", "gpu-c"))]
    assert done.missing == {"gpu-a": "the pull failed: pull tiny:1b: no space left"}
    assert done.fell_back == dict.fromkeys(["gpu-b", "gpu-c"], "the pull on gpu-a failed")
    assert done.changed_hosts == ["gpu-b", "gpu-c"] and not done.ok


def test_a_clean_host_whose_ollama_cannot_be_asked_is_missing_not_fed(inv, recorder):
    rec = recorder()
    listing = Listing({"gpu-a": ["tiny:1b"]}, down=("gpu-c",))
    [done] = spread.spread(inv, ALL, set(ALL), listing, check=False)
    assert rec.calls == [("seed", "tiny:1b", "gpu-a", ("gpu-b",))]
    assert done.missing == {
        "gpu-c": "its Ollama could not be asked: gpu-c: cannot connect over SSH"
    }


def test_an_unexpected_error_is_the_models_line_not_a_traceback(inv, monkeypatch):
    def broken(*args):
        raise KeyError("digest")

    monkeypatch.setattr(spread, "seed", broken)
    [done] = spread.spread(inv, ALL, set(ALL), Listing({"gpu-a": ["tiny:1b"]}), check=False)
    assert not done.ok
    assert done.missing["gpu-b"] == "homeforge could not bring it: KeyError: 'digest'"


def test_nothing_is_asked_when_no_selected_host_wants_a_shared_model(inv, recorder):
    listing = Listing({})
    assert spread.spread(inv, ["gpu-out"], {"gpu-out"}, listing, check=False) == []
    assert listing.asked == []


def test_check_mode_lists_and_reports_but_pulls_and_seeds_nothing(inv, recorder):
    rec = recorder()
    [done] = spread.spread(inv, ALL, set(ALL), Listing({}), check=True)
    assert rec.calls == [] and done.changed_hosts == ALL
    assert done.line() == (
        "model tiny:1b: would be pulled once from the registry on gpu-a; would be seeded from"
        " gpu-a to gpu-b, gpu-c (over the mesh)"
    )
    # new hosts: no Ollama to ask yet, so the listing fails; check mode predicts
    [new] = spread.spread(inv, ALL, set(ALL), Listing({}, down=tuple(ALL)), check=True)
    assert new.ok and new.pulled and new.seeded == ["gpu-b", "gpu-c"]


def test_the_result_counts_a_change_per_host_and_says_why_an_unchanged_host_ran(inv, recorder):
    recorder()
    [done] = spread.spread(inv, ALL, set(ALL), Listing({"gpu-a": ["tiny:1b"]}), check=False)
    result = ConvergeResult(run=None, probe_elapsed=0.1)
    result.stats = {h: HostStats(ok=3) for h in ALL}
    result.outcomes = {h: "unchanged (probe)" for h in ALL}
    _seeded(result, [done], check=False)
    assert result.changed == 2 and result.ok
    assert result.outcomes == {
        "gpu-a": "unchanged (probe)",
        "gpu-b": "converged",
        "gpu-c": "converged",
    }
    assert result.reasons["gpu-b"] == "model tiny:1b was missing"
    assert progress.ran_roles(result, "gpu-b") == "ran no role"
    assert progress.summary(result)["summary"]["models"] == [
        {
            "model": "tiny:1b",
            "source": "gpu-a",
            "pulled": False,
            "seeded": ["gpu-b", "gpu-c"],
            "fell_back": {},
            "missing": {},
            "ok": True,
        }
    ]


def test_only_playbooks_that_apply_the_whole_role_untagged_spread_models(write):
    assert spread.applies(ROOT / "playbooks/site.yml", tags=False)
    assert not spread.applies(ROOT / "playbooks/site.yml", tags=True)
    assert not spread.applies(ROOT / "playbooks/models.yml", tags=False)  # one model, as asked
    assert not spread.applies(ROOT / "playbooks/mesh.yml", tags=False)
    mine = write("pb/mine.yml", "- import_playbook: inner.yml\n")
    write("pb/inner.yml", "- hosts: gpus\n  roles: [{role: homeforge.homelab.ollama}]\n")
    assert spread.applies(mine, tags=False)
    write("pb/one.yml", "- import_playbook: two.yml\n")
    write("pb/two.yml", "- import_playbook: one.yml\n")
    assert not spread.applies(mine.with_name("one.yml"), tags=False)
