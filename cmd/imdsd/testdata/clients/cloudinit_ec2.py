"""Run cloud-init's DataSourceEc2 against imdsd and print what it found.

Usage: cloudinit_ec2.py BASE_URL PLATFORM MAX_WAIT TMPDIR

BASE_URL is imdsd (http://127.0.0.1:PORT). PLATFORM is "aws" (the DMI data
of an EC2 instance, so cloud-init uses IMDSv2 tokens) or "unknown" (a
platform cloud-init does not recognise, so it uses IMDSv1 only). MAX_WAIT
bounds cloud-init's wait for the service in seconds. TMPDIR takes the
datasource's run and cloud directories, so nothing is written elsewhere.

This drives the datasource the way the pve-imds project's conformance test
does (wyattanderson/pve-imds tests/conformance/test_ec2_conformance.py):
platform detection is replaced, metadata_urls points at the server, and
DataSourceEc2._get_data() runs the real crawl. Nothing is persisted
(get_data() would write instance-data.json; _get_data() does not).

The output is one JSON object on stdout; cloud-init's log goes to stderr.
"""

import json
import logging
import sys
from unittest import mock

import requests

from cloudinit import helpers, util
from cloudinit.sources import DataSourceEc2 as ec2

# _collect_platform_data() reads /sys/hypervisor/uuid and DMI. On EC2 the
# system UUID and serial both start with "ec2" (identify_aws needs them
# equal when they come from DMI).
PLATFORMS = {
    "aws": {
        "uuid": "ec2e1916-9099-7caf-fd21-012345abcdef",
        "uuid_source": "dmi",
        "serial": "ec2e1916-9099-7caf-fd21-012345abcdef",
        "asset_tag": "",
        "vendor": "amazon ec2",
        "product_name": "t3.micro",
    },
    "unknown": {
        "uuid": "00000000-0000-0000-0000-000000000000",
        "uuid_source": "dmi",
        "serial": "00000000-0000-0000-0000-000000000000",
        "asset_tag": "",
        "vendor": "",
        "product_name": "",
    },
}

TOKEN_HEADER = "x-aws-ec2-metadata-token"


def main():
    base_url, platform, max_wait, tmpdir = sys.argv[1:5]
    # Importing cloudinit.log left the root logger with only a
    # NullHandler, so basicConfig() would do nothing.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)

    # util.is_resolvable() first looks up names that must not exist, to
    # detect DNS redirection: that would ask the real resolver. Say none
    # was found; the base URL is an address, so it is never looked up.
    util._DNS_REDIRECT_IP = set()

    # Every HTTP request cloud-init makes, as (method, url, token sent?).
    sent = []
    real_request = requests.Session.request

    def recording_request(self, method, url, *args, **kwargs):
        headers = {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()}
        sent.append(
            {
                "method": method,
                "url": url,
                "token": TOKEN_HEADER in headers,
                "ttl": headers.get(TOKEN_HEADER + "-ttl-seconds"),
            }
        )
        return real_request(self, method, url, *args, **kwargs)

    distro = mock.MagicMock()
    distro.get_tmp_exec_path = lambda: tmpdir
    paths = helpers.Paths({"run_dir": tmpdir, "cloud_dir": tmpdir})
    ds = ec2.DataSourceEc2(sys_cfg={}, distro=distro, paths=paths)
    ds.metadata_urls = [base_url]
    ds.url_max_wait = int(max_wait)
    ds.url_timeout = 3

    out = {"platform": platform}
    with mock.patch.object(
        ec2, "_collect_platform_data", return_value=PLATFORMS[platform]
    ), mock.patch.object(requests.Session, "request", recording_request):
        out["cloud_name"] = ds.cloud_name
        out["get_data"] = ds._get_data()
        if out["get_data"]:
            crawled = ds._crawled_metadata
            out["api_version"] = crawled.get("_metadata_api_version")
            out["metadata_address"] = ds.metadata_address
            out["metadata"] = ds.metadata
            out["identity"] = ds.identity
            ud = ds.userdata_raw
            out["user_data"] = ud.decode() if isinstance(ud, bytes) else ud
            # What cloud-init derives; each may raise on odd metadata (an
            # empty crawl has no instance-id), which the test reports.
            derived = {
                "instance_id": ds.get_instance_id,
                "hostname": lambda: ds.get_hostname(metadata_only=True).hostname,
                "public_keys": ds.get_public_ssh_keys,
                "region": lambda: ds.region,
                "availability_zone": lambda: ds.availability_zone,
            }
            for name, get in derived.items():
                try:
                    out[name] = get()
                except Exception as e:  # pylint: disable=broad-except
                    out[name] = "raised %s: %s" % (type(e).__name__, e)
    out["requests"] = sent
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
