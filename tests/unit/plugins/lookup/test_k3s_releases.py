"""The K3s releases an airgap directory holds: directories named by a version."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.homeforge.homelab.plugins.lookup.k3s_releases import (
    LookupModule,
    releases,
)


def test_version_directories_in_version_order_links_included(tmp_path):
    for name in ("v1.33.14+k3s1", "v1.33.2+k3s1", "v1.32.13+k3s1", "notes", "v1.34.1+k3s1.bak"):
        (tmp_path / name).mkdir()
    (tmp_path / "v1.31.4+k3s1").write_text("a file, not a release")
    (tmp_path / "v1.35.9+k3s1").symlink_to(tmp_path / "v1.32.13+k3s1")
    assert releases(str(tmp_path)) == [
        "v1.32.13+k3s1",
        "v1.33.2+k3s1",
        "v1.33.14+k3s1",
        "v1.35.9+k3s1",
    ]


def test_one_release_at_the_top_holds_no_version_directory(tmp_path):
    (tmp_path / "k3s").write_text("binary")
    (tmp_path / "sha256sum-amd64.txt").write_text("")
    assert releases(str(tmp_path)) == []


@pytest.mark.parametrize("path", ["releases/k3s", "/nonexistent/k3s-airgap"])
def test_a_path_that_is_not_a_directory_on_the_controller_is_one_line(path):
    with pytest.raises(AnsibleLookupError) as raised:
        LookupModule().run([path])
    assert str(raised.value).startswith("k3s: k3s_artifacts_dir: ") and path in str(raised.value)
    assert "\n" not in str(raised.value)
