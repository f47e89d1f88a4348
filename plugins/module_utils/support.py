# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""When upstream support of the releases the roles install ends, per minor version.

``homeforge inventory check`` warns when an inventory pins (or a role's default is) a
release whose support ended before today. Standard library only, so the CLI loads this
file as plain Python (homeforge.module_utils.load).

Each date has its source beside it. A date the source gives only as a month ("~Feb 2027
(Expected)") is the last day of that month, so a warning never comes early; a minor whose
end no source gives yet is left out (no warning). A minor older than every one listed is
past its support too, once the oldest listed is.
"""

from __future__ import annotations

import datetime
import re

# product: (its name in a warning, what ended, {minor: ISO date})
PRODUCTS = {
    # Upstream Kubernetes, end of life of each minor: https://kubernetes.io/releases/
    # K3s follows the Kubernetes minor it packages (v1.31.4+k3s1 is Kubernetes 1.31).
    "kubernetes": (
        "Kubernetes",
        "end of support",
        {
            "1.29": "2025-02-28",  # kubernetes.io/releases
            "1.30": "2025-06-28",  # kubernetes.io/releases
            "1.31": "2025-10-28",  # kubernetes.io/releases
            "1.32": "2026-02-28",  # kubernetes.io/releases
            "1.33": "2026-06-28",  # kubernetes.io/releases
            "1.34": "2026-10-27",  # kubernetes.io/releases
            "1.35": "2027-02-28",  # kubernetes.io/releases
            "1.36": "2027-06-28",  # kubernetes.io/releases
            "1.37": "2027-10-28",  # kubernetes.io/releases
        },
    ),
    # Amazon EKS: standard support for 14 months after the EKS release, then extended
    # support for 12 more; at the end of extended support EKS upgrades the control plane.
    # Source: Amazon EKS User Guide, "Amazon EKS Kubernetes release calendar"
    # (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html); 1.35 from
    # endoflife.date/amazon-eks (standard support to 2027-03-27). Minors no source dates
    # yet (1.36 on) are left out.
    "eks": (
        "EKS",
        "end of extended support",
        {
            "1.27": "2025-07-24",  # EKS release calendar (standard support ended 2024-07-24)
            "1.28": "2025-11-26",  # EKS release calendar (standard support ended 2024-11-26)
            "1.29": "2026-03-23",  # EKS release calendar (standard support ended 2025-03-23)
            "1.30": "2026-07-23",  # EKS release calendar (standard support ended 2025-07-23)
            "1.31": "2026-11-26",  # EKS release calendar (standard support ended 2025-11-26)
            "1.32": "2027-03-23",  # EKS release calendar (standard support ends 2026-03-23)
            "1.33": "2027-07-29",  # EKS release calendar (standard support ends 2026-07-29)
            "1.34": "2027-12-02",  # EKS release calendar (standard support ends 2026-12-02)
            "1.35": "2028-03-27",  # endoflife.date/amazon-eks (EKS 1.35 released 2026-01-28)
        },
    ),
    # cert-manager: a minor is supported until the release of minor + 2
    # (https://cert-manager.io/docs/releases/, "End of Life: Release of 1.21" for 1.19).
    # 1.20 ends at the release of 1.22 and 1.21 at that of 1.23: not released yet, so
    # left out until their dates are known.
    "cert-manager": (
        "cert-manager",
        "end of support",
        {
            "1.18": "2026-03-10",  # cert-manager.io/docs/releases: 1.20.0 released Mar 10, 2026
            "1.19": "2026-07-08",  # cert-manager.io/docs/releases: 1.21.0 released Jul 08, 2026
        },
    ),
    # Istio: supported until six weeks after the release of minor + 2
    # (https://istio.io/latest/docs/releases/supported-releases/, from istio/istio.io
    # data/compatibility/supportStatus.yml).
    "istio": (
        "Istio",
        "end of support",
        {
            "1.29": "2026-10-12",  # istio.io supported releases: "12 Oct 2026"
            "1.30": "2026-12-31",  # istio.io supported releases: "~Dec 2026 (Expected)"
            "1.31": "2027-02-28",  # istio.io supported releases: "~Feb 2027 (Expected)"
        },
    ),
}

_MINOR_RE = re.compile(r"v?([0-9]+)\.([0-9]+)(?![0-9])")


def minor_of(version: object) -> str | None:
    """``1.31`` of ``v1.31.4+k3s1``, ``1.31.1``, ``v1.31`` or ``1.31``; None for anything else."""
    if isinstance(version, bool) or not isinstance(version, (str, int, float)):
        return None
    found = _MINOR_RE.match(str(version).strip())
    return f"{int(found.group(1))}.{int(found.group(2))}" if found else None


def _key(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.split("."))


def support_ended(product: str, version: object, today: datetime.date) -> str | None:
    """Why ``version`` of ``product`` is past its support on ``today`` ("Kubernetes 1.31
    reached end of support on 2025-10-28"), or None: still supported, a minor no source
    gives a date for yet, or not a version at all."""
    name, what, ends = PRODUCTS[product]
    minor = minor_of(version)
    if minor is None:
        return None
    if minor in ends:
        end = datetime.date.fromisoformat(ends[minor])
        return f"{name} {minor} reached {what} on {end}" if end < today else None
    oldest = min(ends, key=_key)
    end = datetime.date.fromisoformat(ends[oldest])
    if _key(minor) < _key(oldest) and end < today:
        return f"{name} {minor} is older than {oldest}, which reached {what} on {end}"
    return None
