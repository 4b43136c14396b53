package config

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	reInstanceID = regexp.MustCompile(`^i-[0-9a-zA-Z]+$`)
	reHexID      = regexp.MustCompile(`^i-[0-9a-f]+$`)
	reRealID     = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	reRegion     = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*-[0-9]+$`)
	reZone       = regexp.MustCompile(`^[a-z0-9-]+[a-z]$`)
	reZoneID     = regexp.MustCompile(`^[a-z]+[0-9]+(-[a-z]+[0-9]+)*-az[0-9]+$`)
	reAccount    = regexp.MustCompile(`^[0-9]{12}$`)
	reRole       = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	reArn        = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:instance-profile/[\w+=,.@/-]+$`)
	reTagKey     = regexp.MustCompile(`^[a-zA-Z0-9+\-=._:@,]{1,128}$`)
	reKeyBlob    = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)
	reLabel      = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	reMAC        = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)
	reSGID       = regexp.MustCompile(`^sg-[0-9a-zA-Z]+$`)
)

// keyTypes are the OpenSSH public key algorithms sshd accepts.
var keyTypes = map[string]bool{
	"ssh-rsa": true, "ssh-dss": true, "ssh-ed25519": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
	"sk-ssh-ed25519@openssh.com": true, "sk-ecdsa-sha2-nistp256@openssh.com": true,
}

// maxDelayMS bounds injected delays: ten minutes, longer than any client
// waits.
const maxDelayMS = 600_000

// intRange describes the values the whole-number key at path takes.
func intRange(path string) string {
	if strings.HasPrefix(path, "force_status") {
		return "expected a status from 200 to 599, such as 404 or 503"
	}
	return "expected 0 to " + strconv.Itoa(maxDelayMS) + " milliseconds"
}

// validate rejects values a client cannot use and warns about values a
// client will trip on. A value that is empty here was left out and could
// not be derived because what it derives from is invalid, which has its own
// error; it is not reported again.
func (p *parser) validate(c *Config) {
	switch id := c.InstanceID; {
	case !reInstanceID.MatchString(id):
		p.errorf("instance_id", "%s is not an instance id: expected \"i-\" followed by letters or digits, such as i-0123456789abcdef0", quote(id))
	case !reHexID.MatchString(id):
		p.warnf("instance_id", "%s is not shaped like an EC2 instance id (\"i-\" and 17 lowercase hex digits, such as i-0123456789abcdef0); tools that check the format, such as vuls, reject it", quote(id))
	case !reRealID.MatchString(id):
		p.warnf("instance_id", "%s is not shaped like an EC2 instance id (\"i-\" and 8 or 17 lowercase hex digits, such as i-0123456789abcdef0); clients that check the length may reject it", quote(id))
	}
	for _, h := range []struct{ key, val string }{
		{"hostname", c.Hostname}, {"local_hostname", c.LocalHostname}, {"public_hostname", c.PublicHostname},
	} {
		if h.val != "" && !validHostname(h.val) {
			p.errorf(h.key, "%s is not a host name: expected labels of letters, digits and hyphens joined by dots, such as ip-10-0-0-10.ec2.internal", quote(h.val))
		}
	}
	local := p.ipv4("local_ipv4", c.LocalIPv4)
	if c.PublicIPv4 != "" {
		p.ipv4("public_ipv4", c.PublicIPv4)
	} else if c.PublicHostname != "" && p.decoded("public_ipv4") {
		p.warnf("public_hostname", "is set but public_ipv4 is not; EC2 serves a public host name only with a public address, so it is not served")
	}
	if !reMAC.MatchString(c.MAC) {
		p.errorf("mac", "%s is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01", quote(c.MAC))
	}
	if !reAccount.MatchString(c.AccountID) {
		p.errorf("account_id", "%s is not an AWS account id: expected 12 digits, such as 123456789012", quote(c.AccountID))
	}
	regionOK := reRegion.MatchString(c.Region)
	if !regionOK {
		p.errorf("region", "%s is not a region name: expected lowercase words and a number joined by hyphens, such as us-east-2", quote(c.Region))
	}
	switch z := c.AvailabilityZone; {
	case z == "":
	case !reZone.MatchString(z):
		p.errorf("availability_zone", "%s is not an availability zone name: expected the region followed by a letter, such as us-east-2b", quote(z))
	case regionOK && p.decoded("region") && !strings.HasPrefix(z, c.Region):
		p.warnf("availability_zone", "%s does not start with region %s; clients that derive the region from the zone (botocore, aws-sdk-go v1) will see region %s",
			quote(z), quote(c.Region), quote(z[:len(z)-1]))
	}
	if c.InstanceType == "" || strings.ContainsAny(c.InstanceType, " \t\r\n/") {
		p.errorf("instance_type", "%s is not an instance type: expected a family, a dot and a size, such as t3.micro", quote(c.InstanceType))
	}
	switch c.Architecture {
	case "x86_64", "arm64", "i386":
	case "aarch64", "amd64", "x86-64", "x64":
		p.errorf("architecture", "%s is not one of EC2's names: expected x86_64, arm64 or i386 (aarch64 is arm64, amd64 is x86_64)", quote(c.Architecture))
	default:
		p.errorf("architecture", "%s is not one of EC2's names: expected x86_64, arm64 or i386", quote(c.Architecture))
	}

	for i, k := range c.SSHPublicKeys {
		p.sshKey("ssh_public_keys["+strconv.Itoa(i)+"]", k)
	}
	if c.UserData != nil && c.UserDataBase64 != nil {
		p.errorf("user_data_base64", "cannot be given with user_data: give the user-data once, as text in user_data or as base64 here")
	}
	if len(c.userData) > MaxUserData {
		key, how := "user_data", ""
		if c.UserData == nil {
			key, how = "user_data_base64", " after decoding"
		}
		p.errorf(key, "is %d bytes%s: EC2 allows at most %d bytes (16 KiB) of user-data", len(c.userData), how, MaxUserData)
	}

	if c.DefaultDelayMS < 0 || c.DefaultDelayMS > maxDelayMS {
		p.errorf("default_delay_ms", "%d is out of range: %s", c.DefaultDelayMS, intRange("default_delay_ms"))
	}
	for _, k := range sortedKeys(c.EndpointDelayMS) {
		if ms := c.EndpointDelayMS[k]; ms < 0 || ms > maxDelayMS {
			path := joinKey("endpoint_delay_ms", k)
			p.errorf(path, "%d is out of range: %s", ms, intRange(path))
		}
	}
	for _, k := range sortedKeys(c.ForceStatus) {
		if st := c.ForceStatus[k]; st < 200 || st > 599 || http.StatusText(st) == "" {
			path := joinKey("force_status", k)
			p.errorf(path, "%d is not an HTTP status code: %s", st, intRange(path))
		}
	}

	for _, r := range []struct{ key, val, prefix, what string }{
		{"ami_id", c.AMIID, "ami-", "an AMI id"},
		{"reservation_id", c.ReservationID, "r-", "a reservation id"},
		{"interface_id", c.InterfaceID, "eni-", "a network interface id"},
		{"subnet_id", c.SubnetID, "subnet-", "a subnet id"},
		{"vpc_id", c.VPCID, "vpc-", "a VPC id"},
	} {
		if !validID(r.val, r.prefix) {
			p.errorf(r.key, "%s is not %s: expected %q followed by letters or digits, such as %s0123456789abcdef0", quote(r.val), r.what, r.prefix, r.prefix)
		}
	}
	if z := c.AvailabilityZoneID; z != "" && !reZoneID.MatchString(z) {
		p.errorf("availability_zone_id", "%s is not an availability zone id: expected a short region code, \"-az\" and a number, such as use2-az2", quote(z))
	}
	for i, g := range c.SecurityGroups {
		key := "security_groups[" + strconv.Itoa(i) + "]"
		switch {
		case strings.TrimSpace(g) == "":
			p.errorf(key, "is empty: expected a security group name, such as default")
		case strings.ContainsAny(g, "\r\n"):
			p.errorf(key, "%s has more than one line: expected a security group name, such as default", quote(g))
		case hasControl(g):
			p.errorf(key, "%s holds a control character: expected a security group name, such as default", quote(g))
		}
	}
	for i, g := range c.SecurityGroupIDs {
		if !reSGID.MatchString(g) {
			p.errorf("security_group_ids["+strconv.Itoa(i)+"]", "%s is not a security group id: expected \"sg-\" followed by letters or digits, such as sg-0123456789abcdef0", quote(g))
		}
	}
	if n, m := len(c.SecurityGroupIDs), len(c.SecurityGroups); n != m && p.decoded("security_groups") {
		groups := ""
		if !p.given("security_groups") {
			groups = ` (security_groups is left out, so it is ["default"])`
		}
		p.errorf("security_group_ids", "lists %s for %s%s; give one id per group, in the same order",
			count(n, "id"), count(m, "security group"), groups)
	}
	var sub, vpc netip.Prefix
	if c.SubnetIPv4CIDR != "" {
		sub = p.prefix("subnet_ipv4_cidr_block", c.SubnetIPv4CIDR)
	}
	if c.VPCIPv4CIDR != "" {
		vpc = p.prefix("vpc_ipv4_cidr_block", c.VPCIPv4CIDR)
	}
	if local.IsValid() && sub.IsValid() && !sub.Contains(local) && p.decoded("local_ipv4") {
		p.warnf("subnet_ipv4_cidr_block", "%s does not contain local_ipv4 %s; clients that check the address against the subnet will be confused", sub, local)
	}
	if sub.IsValid() && vpc.IsValid() && !(vpc.Contains(sub.Addr()) && vpc.Bits() <= sub.Bits()) &&
		p.decoded("subnet_ipv4_cidr_block") && (p.given("subnet_ipv4_cidr_block") || p.decoded("local_ipv4")) {
		p.warnf("vpc_ipv4_cidr_block", "%s does not contain subnet_ipv4_cidr_block %s", vpc, sub)
	}

	for _, k := range sortedKeys(c.Tags) {
		if !reTagKey.MatchString(k) || k == "." || k == ".." || k == "_index" {
			p.errorf(joinKey("tags", k), "is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not \".\", \"..\" or \"_index\")")
		} else if n, _, ok := strings.Cut(k, "="); ok && isDigits(n) {
			p.warnf(joinKey("tags", k), "looks like a public key entry (\"N=name\"): cloud-init's crawler reads it as one, fetches tags/instance/%s/openssh-key, gets 404 and drops all meta-data", n)
		}
		if v := c.Tags[k]; hasControl(v) || strings.HasSuffix(v, "\n") {
			p.errorf(joinKey("tags", k), "%s holds a newline or control character: cloud-init would read the value as a list; EC2 tag values are a single line", quote(v))
		}
	}
	if a := c.IAM; a != nil {
		switch {
		case a.Role == "" && p.given("iam.role"):
			p.errorf("iam.role", "is empty: give the name of the instance profile's role, such as \"role\": \"web\"")
		case a.Role == "":
			p.errorf("iam.role", "is missing: give the name of the instance profile's role, such as \"role\": \"web\"")
		case !reRole.MatchString(a.Role) || a.Role == "." || a.Role == "..":
			p.errorf("iam.role", "%s is not an IAM role name: expected 1 to 64 of letters, digits and + = , . @ _ -", quote(a.Role))
		}
		if a.InstanceProfileArn != "" && !reArn.MatchString(a.InstanceProfileArn) {
			p.errorf("iam.instance_profile_arn", "%s is not an instance profile ARN: expected one such as arn:aws:iam::123456789012:instance-profile/web", quote(a.InstanceProfileArn))
		}
		for _, s := range []struct{ key, val string }{
			{"iam.access_key_id", a.AccessKeyID}, {"iam.secret_access_key", a.SecretAccessKey},
			{"iam.token", a.Token}, {"iam.instance_profile_id", a.InstanceProfileID},
		} {
			if strings.ContainsAny(s.val, " \t\r\n\"\\") {
				p.errorf(s.key, "must not contain blanks, quotes or backslashes: clients read it from a JSON document")
			}
		}
	}
	switch c.HTTPTokens {
	case "required", "optional":
	default:
		p.errorf("http_tokens", "%s is not a valid value: expected \"required\" or \"optional\"", quote(c.HTTPTokens))
	}
	switch c.HTTPEndpoint {
	case "enabled", "disabled":
	default:
		p.errorf("http_endpoint", "%s is not a valid value: expected \"enabled\" or \"disabled\"", quote(c.HTTPEndpoint))
	}
	p.dropDerived()
}

// dropDerived removes errors about values that are wholly derived (neither
// the key nor any key holding it is in the file) when there are errors about
// values the file gives: a derived value can only be wrong because what it
// is derived from is, and that has its own message. Alone, such an error is
// kept, so that a derivation gone wrong never passes silently.
func (p *parser) dropDerived() {
	derived := func(path string) bool { // path is a full path, as in Error.Key
		for k := path; k != ""; k = parentPath(k) {
			if _, ok := p.keys[k]; ok {
				return false
			}
		}
		return true
	}
	var kept ErrorList
	for _, e := range p.errs {
		if e.Key == "" || !derived(e.Key) {
			kept = append(kept, e)
		}
	}
	if len(kept) > 0 {
		p.errs = kept
	}
}

// decoded reports whether the values of keys, which others are checked
// against, were decoded; when one was not, it is a stand-in, and comparing
// with it would give a misleading message.
func (p *parser) decoded(keys ...string) bool {
	for _, k := range keys {
		if p.isBad(k) {
			return false
		}
	}
	return true
}

// count is n and noun, in the plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// validHostname reports whether s is a DNS host name: dot-separated labels
// of letters, digits and inner hyphens, 253 characters at most.
func validHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !reLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// validID reports whether s is prefix followed by letters or digits.
func validID(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (p *parser) ipv4(key, val string) netip.Addr {
	a, err := netip.ParseAddr(val)
	switch {
	case err == nil && a.Is4():
		return a
	case err == nil:
		p.errorf(key, "%s is an IPv6 address: expected an IPv4 address, such as 10.0.0.10", quote(val))
	default:
		p.errorf(key, "%s is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10", quote(val))
	}
	return netip.Addr{}
}

func (p *parser) prefix(key, val string) netip.Prefix {
	pf, err := netip.ParsePrefix(val)
	switch {
	case err != nil || !pf.Addr().Is4():
		p.errorf(key, "%s is not an IPv4 network: expected an address, a slash and a prefix length, such as 10.0.0.0/24", quote(val))
	case pf.Masked() != pf:
		p.errorf(key, "%s has address bits set beyond the prefix length: expected %s", quote(val), pf.Masked())
	default:
		return pf
	}
	return netip.Prefix{}
}

func (p *parser) sshKey(key, k string) {
	k = strings.TrimSpace(k)
	f := strings.Fields(k)
	switch {
	case strings.ContainsAny(k, "\r\n"):
		p.errorf(key, "has more than one line: give one OpenSSH public key per list entry")
	case len(f) < 2:
		p.errorf(key, "%s is not an OpenSSH public key: expected \"TYPE BASE64 [COMMENT]\" as in a .pub file, such as \"ssh-ed25519 AAAAC3Nz... user@host\"", quote(k))
	case !keyTypes[f[0]]:
		p.errorf(key, "%s is not an OpenSSH key type: expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 or another type sshd accepts, first on the line", quote(f[0]))
	case !reKeyBlob.MatchString(f[1]):
		p.errorf(key, "the key data (the second field) is not base64: expected only A-Z a-z 0-9 + / and = padding")
	default:
		if t := blobType(f[1]); t != "" && t != f[0] {
			p.errorf(key, "the key data holds a %s key but the line says %s; sshd will not accept it", quote(t), quote(f[0]))
		}
	}
}

// blobType returns the key type written inside an OpenSSH public key blob,
// or "" when the blob does not decode (as with the made-up keys of the
// original README).
func blobType(blob string) string {
	b, err := base64.StdEncoding.DecodeString(blob)
	if err != nil || len(b) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > 64 || int(n) > len(b)-4 {
		return ""
	}
	return string(b[4 : 4+n])
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// hasControl reports whether s holds an ASCII control character.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// isDigits reports whether s is one or more decimal digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
