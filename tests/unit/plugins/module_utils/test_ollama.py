"""module_utils/ollama.py: model names as Ollama reads them, and the pull stream."""

from __future__ import annotations

import json

import pytest

from tests.unit.plugins.support import load_plain

ollama = load_plain("plugins/module_utils/ollama.py")


@pytest.mark.parametrize(
    "name, parts, short",
    [
        ("llama3.2", ("registry.ollama.ai", "library", "llama3.2", "latest"), "llama3.2:latest"),
        ("llama3.2:1b", ("registry.ollama.ai", "library", "llama3.2", "1b"), "llama3.2:1b"),
        ("ns/m:q4_K_M", ("registry.ollama.ai", "ns", "m", "q4_K_M"), "ns/m:q4_K_M"),
        ("reg.local:5000/ns/m:1", ("reg.local:5000", "ns", "m", "1"), "reg.local:5000/ns/m:1"),
        # from Ollama's own cases (types/model/name_test.go): a leading _, one-letter parts,
        # a host with a port-like suffix, a tag of 80 characters, upper case
        (
            "_why/_the/_lucky:_stiff",
            ("_why", "_the", "_lucky", "_stiff"),
            "_why/_the/_lucky:_stiff",
        ),
        ("h/n/m:t", ("h", "n", "m", "t"), "h/n/m:t"),
        (
            "host:https/ns/model:tag",
            ("host:https", "ns", "model", "tag"),
            "host:https/ns/model:tag",
        ),
        ("m:" + "t" * 80, ("registry.ollama.ai", "library", "m", "t" * 80), "m:" + "t" * 80),
        (
            "localhost:5000/ns/m",
            ("localhost:5000", "ns", "m", "latest"),
            "localhost:5000/ns/m:latest",
        ),
        ("Llama3.2:1B", ("registry.ollama.ai", "library", "Llama3.2", "1B"), "Llama3.2:1B"),
    ],
)
def test_names_read_as_ollama_reads_them(name, parts, short):
    assert ollama.parse_name(name) == parts
    assert ollama.short_name(name) == short
    assert ollama.manifest_relpath(name) == "manifests/" + "/".join(parts)


@pytest.mark.parametrize(
    "name",
    [
        "",
        " llama",
        "Bad Name",
        "a/b/c/d",
        "m:",
        "m:tag with space",
        "../x",
        "m\n:1",
        None,
        3,
        # refused by Ollama (name_test.go): a '.' in the namespace (myreg.com/m reads
        # myreg.com as one), ':' in the namespace, a digest, a leading '.' or '-',
        # empty parts, a tag or model over 80 characters
        "myreg.com/m",
        "host/name:space/model:tag",
        "m@sha256:abc",
        ".m",
        "-m",
        "m:-t",
        "/m",
        "ns//m",
        "m:" + "t" * 81,
        "m" * 81,
        "https://registry.ollama.ai/library/m:1",
    ],
)
def test_malformed_names_are_refused(name):
    with pytest.raises(ollama.ModelNameError):
        ollama.parse_name(name)


def test_progress_follows_layers_and_counts_only_what_arrived():
    clock = iter([0.0, 10.0]).__next__
    progress = ollama.PullProgress(clock=clock)
    lines = [
        {"status": "pulling manifest"},
        {"status": "pulling aaa", "digest": "sha256:a", "total": 100, "completed": 100},  # on disk
        {"status": "pulling bbb", "digest": "sha256:b", "total": 1000, "completed": 400},  # partial
        {"status": "pulling bbb", "digest": "sha256:b", "total": 1000, "completed": 1000},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    for line in lines:
        progress.feed(json.dumps(line))
    snap = progress.snapshot()
    assert progress.done and snap["total"] == 1100 and snap["completed"] == 1100
    assert snap["transferred"] == 600 and snap["rate_bps"] == 60


def test_an_error_line_with_http_200_is_a_failure():
    progress = ollama.PullProgress()
    progress.feed('{"status": "pulling manifest"}')
    with pytest.raises(ollama.PullError, match="file does not exist"):
        progress.feed('{"error": "pull model manifest: file does not exist"}')
    with pytest.raises(ollama.PullError, match="not JSON"):
        progress.feed("<html>")
    assert not progress.done


def test_find_matches_the_listed_short_name():
    models = [{"name": "llama3.2:1b", "digest": "d1"}, {"name": "ns/m:latest", "digest": "d2"}]
    assert ollama.find(models, "llama3.2:1b")["digest"] == "d1"
    assert ollama.find(models, "registry.ollama.ai/ns/m")["digest"] == "d2"
    assert ollama.find(models, "llama3.2") is None


def test_the_ollama_stand_in_reads_names_as_homeforge_does():
    """One set of rules, Ollama's: what the stand-in takes homeforge takes, and the reverse."""
    import importlib.machinery
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[4] / "tests" / "standins" / "ollama"
    loader = importlib.machinery.SourceFileLoader("ollama_standin", str(path))
    standin = importlib.util.module_from_spec(
        importlib.util.spec_from_loader("ollama_standin", loader)
    )
    loader.exec_module(standin)
    names = ["llama3.2:1b", "_a/_b/_c:_d", "myreg.com/m", "reg:5000/ns/m:1", "m:" + "t" * 81]
    names += ["ns/m.v2:q4_K_M", "a/b/c/d", "ns.x/m", "m@d", "x:" + "y" * 80]
    for name in names:
        try:
            ours = ollama.parse_name(name)
        except ollama.ModelNameError:
            ours = None
        try:
            theirs = standin.parse_name(name)
        except standin.NameError_:
            theirs = None
        assert ours == theirs, name


def test_find_compares_names_as_ollama_does_regardless_of_case():
    assert ollama.find([{"name": "Llama3.2:1B"}], "llama3.2:1b") == {"name": "Llama3.2:1B"}
