# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Pieces shared by the EKS modules: their AWS options, the boto3 guard, and the EKS API
through boto3 with every error turned into one line."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

try:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
except ImportError:  # reported by eks_api()
    HAS_BOTO3 = False
else:
    HAS_BOTO3 = True

NO_CREDENTIALS = "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"


def eks_argument_spec() -> dict:
    """Options of every EKS module (documented in doc_fragments/eks.py)."""
    return {
        "region": {"type": "str", "required": True},
        "endpoint_url": {"type": "str"},
    }


class EksError(Exception):
    """One line for fail_json."""


class Refusal:
    """An error EKS answered with: the operation, EKS's error code and message."""

    def __init__(self, operation, error):
        details = error.response.get("Error", {})
        self.operation = operation
        self.code = details.get("Code", "")
        self.message = details.get("Message", str(error))
        self.text = str(error)


class EksApi:
    """The EKS API of one region, through boto3 and its usual credential chain
    (environment, profile, instance role). ``refused(Refusal)`` words EKS's own errors
    for the module; every error becomes one EksError line."""

    def __init__(self, region, endpoint_url, refused):
        self.region = region
        self.refused = refused
        self.client = boto3.client("eks", region_name=region, endpoint_url=endpoint_url or None)

    def call(self, operation, not_found=None, **kwargs):
        """The operation's response; ``not_found()`` instead when EKS answers
        ResourceNotFoundException and one is given."""
        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            refusal = Refusal(operation, exc)
            if not_found is not None and refusal.code == "ResourceNotFoundException":
                return not_found()
            raise EksError(self.refused(refusal)) from exc
        except NoCredentialsError as exc:
            raise EksError(NO_CREDENTIALS) from exc
        except BotoCoreError as exc:
            raise EksError(f"EKS API in {self.region}: {exc}") from exc

    def cluster(self, name):
        """The cluster as DescribeCluster describes it; one line when there is none."""

        def missing():
            raise EksError(f"EKS cluster {name} not found in {self.region}")

        return self.call("describe_cluster", not_found=missing, name=name)["cluster"]


def eks_api(module, refused):
    """The EKS API in the module's O(region), at its O(endpoint_url) if any; fails the
    module when boto3 is missing."""
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"))
    return EksApi(module.params["region"], module.params["endpoint_url"], refused)
