package config

import (
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	reInstanceID = regexp.MustCompile(`^i-[0-9a-zA-Z]+$`)
	reRealID     = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	reRegion     = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*-[0-9]+$`)
	reZone       = regexp.MustCompile(`^[a-z0-9-]+[a-z]$`)
	reAccount    = regexp.MustCompile(`^[0-9]{12}$`)
	reResource   = regexp.MustCompile(`^[a-z][a-z0-9]*-[0-9a-zA-Z]+$`)
	reRole       = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	reTagKey     = regexp.MustCompile(`^[a-zA-Z0-9+\-=._:@,]{1,128}$`)
	reKeyBlob    = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)
	reHostname   = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}$`)
)

// keyTypes are the OpenSSH public key algorithms sshd accepts.
var keyTypes = map[string]bool{
	"ssh-rsa": true, "ssh-dss": true, "ssh-ed25519": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
	"sk-ssh-ed25519@openssh.com": true, "sk-ecdsa-sha2-nistp256@openssh.com": true,
}

// maxDelayMS bounds injected delays: longer than any client waits.
const maxDelayMS = 600_000

// validate rejects values a client cannot use and warns about values a
// client will trip on.
func (p *parser) validate(c *Config) {
	switch {
	case !reInstanceID.MatchString(c.InstanceID):
		p.errorf("instance_id", "%q is not an instance id: expected \"i-\" and letters or digits, such as i-0123456789abcdef0", c.InstanceID)
	case !reRealID.MatchString(c.InstanceID):
		p.warnf("instance_id", "%q is not shaped like EC2's (\"i-\" and 8 or 17 lowercase hex digits); tools that check the format (vuls) will reject it", c.InstanceID)
	}
	for _, h := range []struct{ key, val string }{
		{"hostname", c.Hostname}, {"local_hostname", c.LocalHostname}, {"public_hostname", c.PublicHostname},
	} {
		if h.val != "" && !reHostname.MatchString(h.val) {
			p.errorf(h.key, "%q is not a host name: use letters, digits, dots and hyphens", h.val)
		}
	}
	local := p.ipv4("local_ipv4", c.LocalIPv4)
	if c.PublicIPv4 != "" {
		p.ipv4("public_ipv4", c.PublicIPv4)
	} else if c.PublicHostname != "" {
		p.warnf("public_hostname", "is set but public_ipv4 is not; EC2 serves a public host name only with a public address, so it is not served")
	}
	if !reMAC.MatchString(c.MAC) {
		p.errorf("mac", "%q is not a MAC address: expected six hex pairs separated by colons, such as 02:00:00:00:00:01", c.MAC)
	}
	if !reAccount.MatchString(c.AccountID) {
		p.errorf("account_id", "%q is not an AWS account id: expected 12 digits", c.AccountID)
	}
	if !reRegion.MatchString(c.Region) {
		p.errorf("region", "%q is not a region name: expected lowercase words and a number joined by hyphens, such as us-east-2", c.Region)
	}
	switch {
	case !reZone.MatchString(c.AvailabilityZone):
		p.errorf("availability_zone", "%q is not an availability zone name: expected the region and a letter, such as us-east-2b", c.AvailabilityZone)
	case !strings.HasPrefix(c.AvailabilityZone, c.Region):
		p.warnf("availability_zone", "%q does not start with region %q; clients that derive the region from the zone (botocore, aws-sdk-go v1) will see region %q",
			c.AvailabilityZone, c.Region, c.AvailabilityZone[:len(c.AvailabilityZone)-1])
	}
	if strings.ContainsAny(c.InstanceType, " \t\r\n") || c.InstanceType == "" {
		p.errorf("instance_type", "%q is not an instance type, such as t3.micro", c.InstanceType)
	}
	switch c.Architecture {
	case "x86_64", "arm64", "i386":
	default:
		p.errorf("architecture", "%q is not one of x86_64, arm64, i386", c.Architecture)
	}

	for i, k := range c.SSHPublicKeys {
		p.sshKey(i, k)
	}
	if c.UserData != nil && c.UserDataBase64 != nil {
		p.errorf("user_data_base64", "user_data is given too; give one of them")
	}
	if len(c.userData) > MaxUserData {
		key := "user_data"
		if c.UserData == nil {
			key = "user_data_base64"
		}
		p.errorf(key, "is %d bytes; EC2 allows at most %d (16 KiB)", len(c.userData), MaxUserData)
	}

	if c.DefaultDelayMS < 0 || c.DefaultDelayMS > maxDelayMS {
		p.errorf("default_delay_ms", "%d is out of range: expected 0 to %d milliseconds", c.DefaultDelayMS, maxDelayMS)
	}
	for _, k := range sortedKeys(c.EndpointDelayMS) {
		if ms := c.EndpointDelayMS[k]; ms < 0 || ms > maxDelayMS {
			p.errorf("endpoint_delay_ms."+k, "%d is out of range: expected 0 to %d milliseconds", ms, maxDelayMS)
		}
	}
	for _, k := range sortedKeys(c.ForceStatus) {
		if st := c.ForceStatus[k]; st < 200 || st > 599 || http.StatusText(st) == "" {
			p.errorf("force_status."+k, "%d is not an HTTP status code: expected one from 200 to 599, such as 404 or 503", st)
		}
	}

	for _, r := range []struct{ key, val, example string }{
		{"ami_id", c.AMIID, "ami-0123456789abcdef0"},
		{"reservation_id", c.ReservationID, "r-0123456789abcdef0"},
		{"interface_id", c.InterfaceID, "eni-0123456789abcdef0"},
		{"subnet_id", c.SubnetID, "subnet-0123456789abcdef0"},
		{"vpc_id", c.VPCID, "vpc-0123456789abcdef0"},
		{"availability_zone_id", c.AvailabilityZoneID, "use2-az2"},
	} {
		if !reResource.MatchString(r.val) {
			p.errorf(r.key, "%q is not a resource id: expected a prefix, a hyphen and letters or digits, such as %s", r.val, r.example)
		}
	}
	p.names("security_groups", c.SecurityGroups)
	p.names("security_group_ids", c.SecurityGroupIDs)
	if len(c.SecurityGroupIDs) != len(c.SecurityGroups) {
		p.errorf("security_group_ids", "lists %d ids for %d security_groups; give one id per group", len(c.SecurityGroupIDs), len(c.SecurityGroups))
	}
	sub := p.prefix("subnet_ipv4_cidr_block", c.SubnetIPv4CIDR)
	vpc := p.prefix("vpc_ipv4_cidr_block", c.VPCIPv4CIDR)
	if local.IsValid() && sub.IsValid() && !sub.Contains(local) {
		p.warnf("subnet_ipv4_cidr_block", "%s does not contain local_ipv4 %s", sub, local)
	}
	if sub.IsValid() && vpc.IsValid() && !(vpc.Contains(sub.Addr()) && vpc.Bits() <= sub.Bits()) {
		p.warnf("vpc_ipv4_cidr_block", "%s does not contain subnet %s", vpc, sub)
	}

	for _, k := range sortedKeys(c.Tags) {
		if !reTagKey.MatchString(k) || k == "." || k == ".." || k == "_index" {
			p.errorf("tags."+k, "is not a tag key EC2 serves in metadata: use 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not \".\", \"..\" or \"_index\")")
		}
	}
	if a := c.IAM; a != nil {
		if !reRole.MatchString(a.Role) {
			p.errorf("iam.role", "%q is not an IAM role name: expected 1 to 64 of letters, digits and +=,.@_-", a.Role)
		}
		if !strings.HasPrefix(a.InstanceProfileArn, "arn:") {
			p.errorf("iam.instance_profile_arn", "%q is not an ARN, such as arn:aws:iam::123456789012:instance-profile/web", a.InstanceProfileArn)
		}
		for _, s := range []struct{ key, val string }{
			{"iam.access_key_id", a.AccessKeyID}, {"iam.secret_access_key", a.SecretAccessKey}, {"iam.token", a.Token},
		} {
			if strings.ContainsAny(s.val, " \t\r\n\"\\") {
				p.errorf(s.key, "must not contain blanks, quotes or backslashes")
			}
		}
	}
	switch c.HTTPTokens {
	case "required", "optional":
	default:
		p.errorf("http_tokens", "%q is not one of required, optional", c.HTTPTokens)
	}
	switch c.HTTPEndpoint {
	case "enabled", "disabled":
	default:
		p.errorf("http_endpoint", "%q is not one of enabled, disabled", c.HTTPEndpoint)
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	sort.SliceStable(p.warns, func(i, j int) bool { return p.warns[i].Line < p.warns[j].Line })
}

var reMAC = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)

func (p *parser) ipv4(key, val string) netip.Addr {
	a, err := netip.ParseAddr(val)
	if err != nil || !a.Is4() {
		p.errorf(key, "%q is not an IPv4 address, such as 10.0.0.10", val)
		return netip.Addr{}
	}
	return a
}

func (p *parser) prefix(key, val string) netip.Prefix {
	pf, err := netip.ParsePrefix(val)
	if err != nil || !pf.Addr().Is4() || pf.Masked() != pf {
		p.errorf(key, "%q is not an IPv4 network in CIDR form, such as 10.0.0.0/24", val)
		return netip.Prefix{}
	}
	return pf
}

func (p *parser) names(key string, vals []string) {
	for i, v := range vals {
		if v == "" || strings.ContainsAny(v, "\r\n") {
			p.errorf(key, "entry %d (%q) must be a non-empty single line", i, v)
		}
	}
}

func (p *parser) sshKey(i int, k string) {
	key := "ssh_public_keys[" + strconv.Itoa(i) + "]"
	f := strings.Fields(k)
	switch {
	case strings.ContainsAny(k, "\r\n"):
		p.errorf(key, "must be a single line: one OpenSSH public key per list entry")
	case len(f) < 2:
		p.errorf(key, "%q is not an OpenSSH public key: expected \"TYPE BASE64 [COMMENT]\", as in a .pub file", k)
	case !keyTypes[f[0]]:
		p.errorf(key, "%q is not an OpenSSH key type, such as ssh-ed25519 or ssh-rsa", f[0])
	case !reKeyBlob.MatchString(f[1]):
		p.errorf(key, "the key data is not base64")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
