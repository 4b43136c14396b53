"""Watch botocore's instance-metadata credential provider pick up a new set.

Usage: botocore_rotation.py BASE_URL SECONDS

Loads credentials with InstanceMetadataProvider (what boto3 and the AWS CLI
use on EC2), reads them, waits SECONDS, reads them again through the same
RefreshableCredentials (which refreshes when less than 15 minutes are left)
and prints one JSON object: the access key id, expiry and token of each
read.
"""

import json
import sys
import time

from botocore.credentials import InstanceMetadataProvider
from botocore.utils import InstanceMetadataFetcher


def main():
    base_url, wait = sys.argv[1], float(sys.argv[2])
    # botocore "extends" credentials that expire within its refresh window
    # (10 minutes) plus 2 to 10 minutes of jitter, a guard for an IMDS that
    # is down; its own setting ec2_credential_refresh_window set to 0
    # keeps that from hiding the 15-minute sets of the test.
    fetcher = InstanceMetadataFetcher(
        timeout=2, num_attempts=2, base_url=base_url,
        config={"ec2_credential_refresh_window": 0},
    )
    creds = InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
    if creds is None:
        print(json.dumps({"error": "no credentials"}))
        return
    reads = []
    for i in range(2):
        if i:
            time.sleep(wait)
        frozen = creds.get_frozen_credentials()
        reads.append({
            "access_key": frozen.access_key,
            "secret_key": frozen.secret_key,
            "token": frozen.token,
            "expiry": creds._expiry_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
    print(json.dumps({"reads": reads}))


main()
