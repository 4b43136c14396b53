"""Ask imdsd for role credentials and the region the way botocore does.

Usage: botocore_imds.py BASE_URL

botocore (and so boto3 and the AWS CLI) gets instance credentials with
InstanceMetadataFetcher.retrieve_iam_role_credentials() and the region with
InstanceMetadataRegionFetcher.retrieve_region(). Both are built here as
botocore builds them, with the test's imdsd as base_url, a 2 s timeout and
one attempt (botocore's default is 1 s and one attempt).

The output is one JSON object on stdout: the credentials dict (empty when
botocore got none), the region (null when none) and every HTTP request
botocore sent, as method, URL and whether it carried a token. botocore's
debug log goes to stderr.
"""

import json
import logging
import sys

import botocore.httpsession
from botocore.utils import InstanceMetadataFetcher, InstanceMetadataRegionFetcher

TOKEN_HEADER = "x-aws-ec2-metadata-token"


def main():
    base_url = sys.argv[1]
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG,
        format="%(name)s %(levelname)s: %(message)s",
    )

    sent = []
    real_send = botocore.httpsession.URLLib3Session.send

    def recording_send(self, request):
        names = {k.lower() for k in request.headers.keys()}
        sent.append(
            {
                "method": request.method,
                "url": request.url,
                "token": TOKEN_HEADER in names,
            }
        )
        return real_send(self, request)

    botocore.httpsession.URLLib3Session.send = recording_send

    # env={} so that AWS_EC2_METADATA_DISABLED in the caller's environment
    # cannot turn the fetchers off.
    creds = InstanceMetadataFetcher(
        timeout=2, num_attempts=1, base_url=base_url, env={}
    ).retrieve_iam_role_credentials()
    region = InstanceMetadataRegionFetcher(
        timeout=2, num_attempts=1, base_url=base_url, env={}
    ).retrieve_region()

    json.dump(
        {"credentials": creds, "region": region, "requests": sent},
        sys.stdout,
        indent=2,
        sort_keys=True,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
