"""The nfs_server role's exports: the rules (module_utils/nfs.py), what each backend's
file says (the role's templates rendered), and `homeforge inventory check`'s lines."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.filter.nfs import nfs_exports

from tests.tools.role_render import render

MESH = ["10.77.0.0/24"]
OPTIONS = ["rw", "sync", "no_subtree_check", "no_root_squash"]


def test_an_export_with_only_a_path_gets_the_defaults():
    [export] = nfs_exports([{"path": "/srv/nfs/k8s"}], MESH, OPTIONS)
    assert export["clients"] == MESH and export["options"] == OPTIONS
    assert (export["owner"], export["group"], export["mode"], export["pseudo"]) == (
        "root", "root", "0755", "/srv/nfs/k8s",
    )  # fmt: skip
    assert (
        export["kernel_line"]
        == "/srv/nfs/k8s 10.77.0.0/24(rw,sync,no_subtree_check,no_root_squash)"
    )
    assert export["ganesha"] == {
        "Access_Type": "RW", "Squash": "no_root_squash", "SecType": "sys", "PrivilegedPort": False,
    }  # fmt: skip


def test_ganesha_gets_the_meaning_of_the_kernel_options():
    [export] = nfs_exports(
        [
            {
                "path": "/a",
                "options": [
                    "ro",
                    "all_squash",
                    "anonuid=1000",
                    "anongid=100",
                    "secure",
                    "sec=krb5:sys",
                ],
            }
        ],
        MESH,
        OPTIONS,
        "ganesha",
    )
    assert export["ganesha"] == {
        "Access_Type": "RO", "Squash": "all_squash", "SecType": "krb5,sys", "PrivilegedPort": True,
        "Anonymous_Uid": 1000, "Anonymous_Gid": 100,
    }  # fmt: skip


@pytest.mark.parametrize(
    "export, needle",
    [
        ({"path": "srv/nfs"}, "path: must be an absolute path"),
        ({"path": "/srv/../etc"}, "'..'"),
        ({"path": "/"}, "system directory"),
        ({"path": "/a b"}, "may use only"),
        ({"path": "/a", "clients": ["10.0.0.0/33"]}, "clients: '10.0.0.0/33': not a valid CIDR"),
        ({"path": "/a", "clients": ["*"]}, "clients: '*': not an address, a CIDR or a host name"),
        ({"path": "/a", "clients": ["host;rm -rf /"]}, "not a valid CIDR"),
        ({"path": "/a", "clients": ["300.1.1.1"]}, "not an address"),
        ({"path": "/a", "clients": []}, "clients: a non-empty list"),
        (
            {"path": "/a", "options": ["rw", "nosuch"]},
            "'nosuch': not an export option homeforge knows",
        ),
        ({"path": "/a", "options": ["anonuid=x"]}, "anonuid= needs a value"),
        ({"path": "/a", "options": ["rw", "ro"]}, "rw and ro together"),
        (
            {"path": "/a", "options": ["root_squash", "no_root_squash"]},
            "root_squash and no_root_squash together",
        ),
        ({"path": "/a", "options": ["sync", "async"]}, "sync and async together"),
        ({"path": "/a", "id": 0}, "id: 0: Ganesha's Export_Id"),
        ({"path": "/a", "id": "7"}, "id: '7'"),
        ({"path": "/a", "options": ["rw)\n/etc *(rw"]}, "not an export option"),
        ({"path": "/a", "mode": "777x"}, "mode: '777x': not a valid mode"),
        ({"path": "/a", "owner": "ro ot"}, "owner: 'ro ot'"),
        ({"path": "/a", "clinets": ["10.0.0.1"]}, "clinets: not a key of an export"),
        ({"path": "/a", "pseudo": "models"}, "pseudo: must be an absolute path"),
    ],
)
def test_a_bad_export_is_refused_with_its_key(export, needle):
    with pytest.raises(AnsibleFilterError, match="nfs_server_exports: exports\\[0\\]: ") as caught:
        nfs_exports([export], MESH, OPTIONS)
    assert needle in str(caught.value)


def test_the_same_path_or_pseudo_path_twice_is_refused():
    with pytest.raises(AnsibleFilterError, match="path /a declared twice"):
        nfs_exports([{"path": "/a"}, {"path": "/a"}], MESH, OPTIONS)
    with pytest.raises(AnsibleFilterError, match="pseudo /m declared twice"):
        nfs_exports(
            [{"path": "/a", "pseudo": "/m"}, {"path": "/b", "pseudo": "/m"}],
            MESH,
            OPTIONS,
            "ganesha",
        )


def test_clients_may_be_addresses_cidrs_and_host_names():
    [export] = nfs_exports(
        [{"path": "/a", "clients": ["192.0.2.7", "fd00::/64", "nas.lan", "10.1.0.0/16"]}],
        MESH,
        OPTIONS,
    )
    assert export["kernel_line"].count("(rw,") == 4


def _objects(template, exports, **more):
    return render(
        "nfs_server",
        template,
        _nfs_server_exports=nfs_exports(exports, MESH, OPTIONS, more.pop("backend", "kernel")),
        ansible_managed="Ansible managed",
        **more,
    )


def test_the_kernel_exports_file_has_one_line_per_export():
    text = _objects(
        "homeforge.exports.j2", [{"path": "/srv/a"}, {"path": "/srv/b", "clients": ["nas.lan"]}]
    )
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "/srv/a 10.77.0.0/24(rw,sync,no_subtree_check,no_root_squash)",
        "/srv/b nas.lan(rw,sync,no_subtree_check,no_root_squash)",
    ]


def test_the_ganesha_config_serves_nfsv4_only_with_one_block_per_export():
    text = _objects(
        "ganesha.conf.j2",
        [
            {"path": "/srv/models", "pseudo": "/models"},
            {"path": "/srv/ro", "options": ["ro", "root_squash"]},
        ],
        backend="ganesha",
        nfs_server_ganesha_graceless=True,
    )
    assert (
        "Protocols = 4;" in text and "Enable_NLM = false;" in text and "Graceless = true;" in text
    )
    assert text.count("EXPORT {") == 2
    assert 'Path = "/srv/models";' in text and 'Pseudo = "/models";' in text
    ids = [line.split("=")[1].strip(" ;") for line in text.splitlines() if "Export_Id" in line]
    assert len(set(ids)) == 2 and all(1 <= int(i) <= 65534 for i in ids)
    assert "Clients = 10.77.0.0/24;" in text
    ro_block = text.split("EXPORT {")[2]
    assert "Access_Type = RO;" in ro_block and "Squash = root_squash;" in ro_block
    assert "Clients = 10.77.0.0/24;" in ro_block
    # every export's own Access_Type is None: only the CLIENT block grants access
    assert all("    Access_Type = None;" in block for block in text.split("EXPORT {")[1:])


def _problems(inventory_problems, hostvars: str) -> list[str]:
    return inventory_problems(
        f"""
        all:
          children:
            nfs_server:
              hosts:
                nas: {{ansible_host: 192.0.2.30, {hostvars}}}
        """
    )


@pytest.mark.parametrize(
    "hostvars, needle",
    [
        (
            "nfs_server_exports: [{path: srv/k8s}]",
            "nfs_server_exports: exports[0]: path: must be an absolute path",
        ),
        ("nfs_server_exports: [{path: /a, clients: ['10.0.0.0/8;x']}]", "clients: '10.0.0.0/8;x'"),
        ("nfs_server_clients: [not_a_host!]", "nfs_server_clients: 'not_a_host!': not an address"),
        ("nfs_server_export_options: [rw, bogus]", "nfs_server_export_options: 'bogus'"),
        (
            "nfs_server_backend: zfs",
            "nfs_server_backend: value of nfs_server_backend must be one of: kernel, ganesha",
        ),
    ],
)
def test_inventory_check_names_file_host_and_key(hostvars, needle, inventory_problems):
    found = _problems(inventory_problems, hostvars)
    assert any(needle in line and "hosts.yml: host nas: " in line for line in found), found


def test_a_good_nfs_inventory_has_no_problem(inventory_problems):
    assert (
        _problems(
            inventory_problems,
            "nfs_server_backend: ganesha, nfs_server_exports: [{path: /srv/m, pseudo: /m}]",
        )
        == []
    )


def test_ganesha_export_ids_stay_when_other_exports_come_and_go():
    both = nfs_exports([{"path": "/srv/a"}, {"path": "/srv/b"}], MESH, OPTIONS, "ganesha")
    alone = nfs_exports([{"path": "/srv/b"}], MESH, OPTIONS, "ganesha")
    assert both[1]["id"] == alone[0]["id"] != both[0]["id"]
    assert nfs_exports([{"path": "/srv/b", "id": 7}], MESH, OPTIONS, "ganesha")[0]["id"] == 7
    with pytest.raises(AnsibleFilterError, match="id 7 declared twice"):
        nfs_exports([{"path": "/a", "id": 7}, {"path": "/b", "id": 7}], MESH, OPTIONS, "ganesha")


def test_an_export_without_rw_is_read_only_on_both_backends_as_exports_5_says():
    [export] = nfs_exports(
        [{"path": "/a", "options": ["sync", "no_subtree_check"]}], MESH, OPTIONS, "ganesha"
    )
    assert export["ganesha"]["Access_Type"] == "RO"


@pytest.mark.parametrize(
    "path",
    [
        "/root",
        "/etc",
        "/etc/ssl",
        "/var",
        "/var/lib",
        "/home",
        "/usr/share/x",
        "/srv",
        "/boot/efi",
        "//etc/",
    ],
)
def test_system_directories_are_never_exported(path):
    """Exporting /root used to make it 0755 and hand it to every mesh peer."""
    with pytest.raises(AnsibleFilterError, match="system directory"):
        nfs_exports([{"path": path}], MESH, OPTIONS)


@pytest.mark.parametrize(
    "path", ["/srv/nfs/k8s", "/var/lib/exports/models", "/home/nfs/share", "/data"]
)
def test_directories_of_their_own_may_be_exported(path):
    assert nfs_exports([{"path": path}], MESH, OPTIONS)[0]["path"] == path


def test_root_is_squashed_by_default_and_new_directories_belong_to_the_anonymous_user():
    """The role's default options squash root; Ganesha then maps root to 65534 as the
    kernel server does (its own default, -2, is a uid no directory has)."""
    from tests.tools.role_render import defaults

    options = defaults("nfs_server")["nfs_server_export_options"]
    assert "root_squash" in options and "no_root_squash" not in options
    (export,) = nfs_exports([{"path": "/srv/nfs/k8s"}], MESH, options, "ganesha")
    assert (export["owner"], export["group"]) == ("nobody", "nogroup")
    assert export["ganesha"]["Squash"] == "root_squash"
    assert export["ganesha"]["Anonymous_Uid"] == 65534 == export["ganesha"]["Anonymous_Gid"]
    assert not export["declared"]
    (trusted,) = nfs_exports([{"path": "/srv/a", "mode": "0700"}], MESH, OPTIONS)
    assert (trusted["owner"], trusted["declared"]) == ("root", True)
    assert "Anonymous_Uid" not in trusted["ganesha"]
