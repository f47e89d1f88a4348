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
    ],
)
def test_names_read_as_ollama_reads_them(name, parts, short):
    assert ollama.parse_name(name) == parts
    assert ollama.short_name(name) == short
    assert ollama.manifest_relpath(name) == "manifests/" + "/".join(parts)


@pytest.mark.parametrize(
    "name",
    ["", " llama", "Bad Name", "a/b/c/d", "m:", "m:tag with space", "../x", "m\n:1", None, 3],
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
