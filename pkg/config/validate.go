package config

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/imdsd/imdsd/internal/imdspath"
	"github.com/imdsd/imdsd/internal/lifecycle"
	"github.com/imdsd/imdsd/internal/strictjson"
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

// MaxHopLimit is the largest token_hop_limit EC2 accepts.
const MaxHopLimit = 64

// intRange is the values a whole-number key takes, and how a message says
// it.
type intRange struct {
	min, max int
	expect   string
}

// ranges are the values of every whole-number key, by field path ("[]"
// for a map's values): the one table that the checks and the messages
// about numbers too large to read take them from.
var ranges = map[string]intRange{
	"default_delay_ms":               {0, maxDelayMS, "expected 0 to 600000 milliseconds"},
	"endpoint_delay_ms[]":            {0, maxDelayMS, "expected 0 to 600000 milliseconds"},
	"force_status[]":                 {200, 599, "expected a status from 200 to 599, such as 404 or 503"},
	"token_hop_limit":                {1, MaxHopLimit, "expected 1 to 64, as EC2's http-put-response-hop-limit"},
	"max_connections":                {0, 1_000_000, "expected 0 to 1000000 connections (0: no cap)"},
	"max_connections_per_client":     {0, 1_000_000, "expected 0 to 1000000 connections (0: no cap)"},
	"header_timeout_ms":              {100, 600_000, "expected 100 to 600000 milliseconds"},
	"max_header_bytes":               {1024, 65536, "expected 1024 to 65536 bytes"},
	"rate_limit.requests_per_second": {0, 1_000_000, "expected 0 (no limit) to 1000000"},
	"rate_limit.burst":               {1, 1_000_000, "expected 1 to 1000000 requests"},
}

// rangeOf returns the range of the whole-number key at field path field.
func rangeOf(field string) intRange {
	if r, ok := ranges[instanceField(field)]; ok {
		return r
	}
	panic("config: no range for whole-number key " + field) // a key added without its range
}

// inRange checks the whole number v of the key at path, whose field path
// is field.
func (p *parser) inRange(path, field string, v int) {
	if r := rangeOf(field); v < r.min || v > r.max {
		p.errorf(path, "%d is out of range: %s", v, r.expect)
	}
}

// examples show the expected form of the keys whose values are lists or
// objects, for messages about values of the wrong type.
var examples = map[string]string{
	"ssh_public_keys":          `["ssh-ed25519 AAAAC3Nz... user@host"]`,
	"security_groups":          `["default"]`,
	"security_group_ids":       `["sg-0123456789abcdef0"]`,
	"endpoint_delay_ms":        `{"meta-data/instance-id": 2000}`,
	"force_status":             `{"meta-data/instance-id": 503}`,
	"tags":                     `{"Name": "web"}`,
	"iam":                      `{"role": "web"}`,
	"iam.rotation":             `{"lifetime": "6h", "interval": "1h"}`,
	"spot_interruption":        `{"action": "terminate", "after": "90s"}`,
	"rebalance_recommendation": `{"after": "60s"}`,
	"scheduled_events":         `[{"code": "system-reboot", "not_before": "72h"}]`,
	"scheduled_events[]":       `{"code": "system-reboot", "not_before": "72h"}`,
	"autoscaling_lifecycle":    `[{"state": "Terminated", "after": "5m"}]`,
	"autoscaling_lifecycle[]":  `{"state": "Terminated", "after": "5m"}`,
}

// validate rejects values a client cannot use and warns about values a
// client will trip on; it changes nothing. A value that is empty here was
// left out and could not be derived because what it derives from is
// invalid, which has its own error; it is not reported again. p is scoped
// to the instance. Validating one instance needs nothing but the instance
// and where its keys were.
func (c *Instance) validate(p *parser) {
	// First the values provisioning passed over (broken base64, fault
	// paths), so that messages on one key keep their order.
	if c.UserData == nil && c.UserDataBase64 != nil {
		if _, err := decodeUserData(*c.UserDataBase64); err != nil {
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				p.errorf("user_data_base64", "is not valid base64: bad data at character %d (blanks not counted); expected standard base64: A-Z a-z 0-9 + / and = padding", int64(ce)+1)
			} else {
				p.errorf("user_data_base64", "is not valid base64: %v", err)
			}
		}
	}
	c.validateFaults(p)

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

	p.inRange("default_delay_ms", "default_delay_ms", c.DefaultDelayMS)
	for _, k := range sortedKeys(c.EndpointDelayMS) {
		p.inRange(joinKey("endpoint_delay_ms", k), "endpoint_delay_ms[]", c.EndpointDelayMS[k])
	}
	for _, k := range sortedKeys(c.ForceStatus) {
		if st, r := c.ForceStatus[k], rangeOf("force_status[]"); st < r.min || st > r.max || http.StatusText(st) == "" {
			p.errorf(joinKey("force_status", k), "%d is not an HTTP status code: %s", st, r.expect)
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
	c.validateLifecycle(p)
	c.validateActionCommand(p)
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
		return p.doc.Offset(path) < 0
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

// joinKey extends a key path; see [strictjson.JoinKey].
func joinKey(path, key string) string { return strictjson.JoinKey(path, key) }

// quote quotes s for a message, shortened to its first 40 characters.
func quote(s string) string { return strictjson.Quote(s) }

// validateFaults reports fault paths that name no path, two keys naming
// one path, and paths no request can match. The keys are taken in file
// order, so that of two keys meaning the same path the later one is the
// one reported.
func (c *Instance) validateFaults(p *parser) {
	for _, g := range []struct {
		group string
		vals  map[string]int
	}{
		{"endpoint_delay_ms", c.EndpointDelayMS},
		{"force_status", c.ForceStatus},
	} {
		origin := map[string]string{} // normalised path -> the key that gave it
		for _, raw := range p.fileOrder(g.group, g.vals) {
			kpath := joinKey(g.group, raw)
			if imdspath.Clean(raw) == "" {
				p.errorf(kpath, "names no path: expected one such as meta-data/instance-id, user-data or api/token")
				continue
			}
			key := imdspath.Key(raw)
			if prev, ok := origin[key]; ok {
				where := ""
				if prevPath := joinKey(g.group, prev); p.given(prevPath) {
					if l := p.doc.Line(p.doc.KeyOffset(p.full(prevPath))); l > 0 {
						where = fmt.Sprintf(" on line %d", l)
					}
				}
				meaning := key
				if key == "" {
					meaning = "the version's own listing, such as /latest/"
				}
				p.errorf(kpath, "names the same path as %q%s (both mean %s); give each path once", prev, where, meaning)
				continue
			}
			origin[key] = raw
			if !knownTarget(key) {
				p.warnf(kpath, "matches no request: the paths imdsd serves start with meta-data, dynamic or user-data, or are api/token")
			}
		}
	}
}

// fileOrder returns the keys of the object at group in the order the file
// gives them; inherited keys, which it does not give, come first.
func (p *parser) fileOrder(group string, m map[string]int) []string {
	ks := sortedKeys(m)
	off := func(k string) int64 { return max(p.doc.KeyOffset(p.full(joinKey(group, k))), 0) }
	sort.SliceStable(ks, func(i, j int) bool { return off(ks[i]) < off(ks[j]) })
	return ks
}

// validate checks the service keys. entries says whether the file has
// instances of its own.
func (s *Service) validate(p *parser, entries bool) {
	switch s.UnknownClients {
	case "default", "deny":
	default:
		p.errorf("unknown_clients", "%s is not a valid value: expected \"default\" (serve the top-level values) or \"deny\" (answer 403)", quote(s.UnknownClients))
	}
	if p.given("token_hop_limit") {
		p.inRange("token_hop_limit", "token_hop_limit", s.TokenHopLimit)
	}
	for _, k := range []struct {
		key string
		v   int
	}{
		{"max_connections", s.MaxConnections},
		{"max_connections_per_client", s.MaxConnectionsPerClient},
		{"header_timeout_ms", s.HeaderTimeoutMS},
		{"max_header_bytes", s.MaxHeaderBytes},
	} {
		if p.given(k.key) {
			p.inRange(k.key, k.key, k.v)
		}
	}
	r := s.RateLimit
	p.inRange("rate_limit.requests_per_second", "rate_limit.requests_per_second", r.RequestsPerSecond)
	if p.given("rate_limit.burst") {
		p.inRange("rate_limit.burst", "rate_limit.burst", r.Burst)
	}
	switch r.Action {
	case "delay", "429", "503":
	default:
		p.errorf("rate_limit.action", "%s is not a valid value: expected \"delay\" (as EC2), \"429\" or \"503\"", quote(r.Action))
	}
	if s.UnknownClients == "deny" && !entries && s.InstancesDir == "" {
		p.warnf("unknown_clients", "is \"deny\" but no instances are configured: every client is refused")
	}
}

// validate checks a completed entry: its instance, its match and its
// listen. p is scoped to the entry. An error about a value the entry
// inherits (found in topMsgs, the top level's errors by key and message)
// is said once, at the top level.
func (e *Entry) validate(p *parser, topMsgs map[string]bool) {
	e.Instance.validate(p)
	if len(e.Match) == 0 && !p.isBad("match") && !e.own.mac {
		p.errorf("match", "is missing: give the addresses, networks or MAC addresses of the guests this instance serves, such as [\"10.0.0.11\", \"10.0.1.0/28\", \"58:9c:fc:0a:1b:21\"], or give the instance its own mac and no match")
	}
	e.validateMatch(p)
	if e.Listen != "" {
		if _, err := parseListen(e.Listen); err != nil {
			p.errorf("listen", "%s is not a local address: expected an address, or an address and port, such as 169.254.169.254 or 169.254.169.254:80", quote(e.Listen))
		}
	}
	kept := p.errs[:0]
	for _, err := range p.errs {
		rel := strings.TrimPrefix(strings.TrimPrefix(err.Key, p.scope), ".")
		if !p.given(rel) && topMsgs[rel+"\x00"+err.Msg] {
			continue
		}
		kept = append(kept, err)
	}
	p.errs = kept
}

// linkLocal reports whether pf holds link-local addresses (fe80::/10,
// 169.254.0.0/16), which nothing ties to one guest.
func linkLocal(pf netip.Prefix) bool {
	return pf.Overlaps(netip.MustParsePrefix("fe80::/10")) || pf.Overlaps(netip.MustParsePrefix("169.254.0.0/16"))
}

// checkedEntry is an entry already cross-checked, and where its keys are.
type checkedEntry struct {
	e             *Entry
	matchAt, idAt string
	macAt         []string // where each of e.MACs is given
}

// listenOverlap reports whether two entries' listen restrictions can both
// apply to one connection.
func listenOverlap(a, b netip.AddrPort) bool {
	if !a.IsValid() || !b.IsValid() {
		return true
	}
	return a.Addr() == b.Addr() && (a.Port() == 0 || b.Port() == 0 || a.Port() == b.Port())
}

// crossCheck reports e's clients that another entry serves too and an
// instance id used twice, naming both places; prev are the entries before
// e. p is scoped to e; inherited says e's instance_id is the top level's.
func crossCheck(prev []checkedEntry, e *Entry, p *parser, inherited bool) []checkedEntry {
	for j, pf := range e.Clients {
		key := "match[" + strconv.Itoa(j) + "]"
		for _, q := range prev {
			for _, qf := range q.e.Clients {
				if pf.Overlaps(qf) && listenOverlap(e.Local, q.e.Local) {
					p.errorf(key, "%s overlaps %s of the instance at %s: a client would belong to two instances", pf, qf, q.matchAt)
				}
			}
		}
	}
	macAt := crossCheckMACs(prev, e, p)
	idAt := p.where("instance_id")
	for _, q := range prev {
		if q.idAt != "" && q.e.InstanceID == e.InstanceID {
			why := ""
			if inherited {
				why = " (inherited from the top level)"
			}
			p.errorf("instance_id", "%s%s is also the instance id of the instance at %s; give each instance its own instance_id", quote(e.InstanceID), why, q.idAt)
			idAt = ""
			break
		}
	}
	return append(prev, checkedEntry{e: e, matchAt: p.where("match"), idAt: idAt, macAt: macAt})
}

// validateLifecycle reports the problems lifecycle.Check finds in the keys
// of the instance's life, and lifecycle.CheckCredentials in those of iam,
// each under its key.
func (c *Instance) validateLifecycle(p *parser) {
	report := func(prefix string, probs []lifecycle.Problem) {
		for _, pr := range probs {
			key := pr.Key // a path already: "scheduled_events[1].not_before"
			if prefix != "" {
				key = prefix + "." + key
			}
			if pr.Warning {
				p.warnf(key, "%s", pr.Msg)
			} else {
				p.errorf(key, "%s", pr.Msg)
			}
		}
	}
	report("", lifecycle.Check(c.Spec))
	if c.IAM != nil {
		report("iam", lifecycle.CheckCredentials(c.IAM.Credentials))
	}
}

// Bounds of action_command.
const (
	MaxActionArgs   = 64
	MaxActionArgLen = 4096
)

// validateActionCommand checks the host hook: an absolute program path and
// its arguments, run without a shell.
func (c *Instance) validateActionCommand(p *parser) {
	a := c.ActionCommand
	if a == nil {
		return
	}
	if len(a) == 0 {
		p.errorf("action_command", "is empty: give the program and its arguments, such as [\"/usr/local/sbin/vm\", \"stop\", \"web1\"], or leave the key out")
		return
	}
	if len(a) > MaxActionArgs {
		p.errorf("action_command", "has %d elements, more than %d", len(a), MaxActionArgs)
	}
	for i, arg := range a {
		key := fmt.Sprintf("action_command[%d]", i)
		switch {
		case strings.ContainsRune(arg, 0):
			p.errorf(key, "contains a NUL character, which no argument can hold")
		case len(arg) > MaxActionArgLen:
			p.errorf(key, "is %d bytes long, more than %d", len(arg), MaxActionArgLen)
		case i == 0 && !strings.HasPrefix(arg, "/"):
			p.errorf(key, "%s is not an absolute path: the program is run without a shell and without a PATH search; write its full path, such as \"/usr/local/sbin/vm\" (for a shell: [\"/bin/sh\", \"-c\", \"...\"])", quote(arg))
		}
	}
}
