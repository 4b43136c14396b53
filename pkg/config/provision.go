package config

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/imdsd/imdsd/internal/imdspath"
)

// Values a file may leave out that have no sensible derivation: those of the
// built-in default.
const (
	defInstanceID   = "i-1234567890"
	defLocalIPv4    = "10.0.0.10"
	defMAC          = "02:00:00:00:00:01"
	defAccountID    = "123456789012"
	defRegion       = "antarctica-1"
	defInstanceType = "a1.pinguin"
	defArch         = "x86_64"
)

// provision fills in what the file left out, deriving it from what it gave:
// names from the address, ids from the instance id, the zone from the
// region. Derived ids are stable: the same instance id always gives the same
// ami-id, reservation-id and so on. An empty string is the same as leaving
// the key out. Nothing is derived from a value that is not valid (validate
// reports it), so a derived value is never the only sign of a problem.
func (p *parser) provision(c *Config) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.InstanceID, defInstanceID)
	def(&c.LocalIPv4, defLocalIPv4)
	def(&c.MAC, defMAC)
	def(&c.AccountID, defAccountID)
	if c.Region == "" && c.AvailabilityZone != "" {
		if r := strings.TrimRight(c.AvailabilityZone, "abcdefghijklmnopqrstuvwxyz"); r != c.AvailabilityZone && reRegion.MatchString(r) {
			c.Region = r
		}
	}
	def(&c.Region, defRegion)
	regionOK := reRegion.MatchString(c.Region)
	if regionOK {
		def(&c.AvailabilityZone, c.Region+"a")
	}
	def(&c.InstanceType, defInstanceType)
	def(&c.Architecture, defArch)
	if mac, err := net.ParseMAC(c.MAC); err == nil && len(mac) == 6 {
		c.MAC = mac.String() // EC2 lists MACs in lowercase, colon-separated
	}

	if validHostname(c.Hostname) {
		def(&c.LocalHostname, c.Hostname)
	}
	if ip, err := netip.ParseAddr(c.LocalIPv4); err == nil && ip.Is4() && regionOK {
		def(&c.LocalHostname, "ip-"+strings.ReplaceAll(c.LocalIPv4, ".", "-")+"."+internalDomain(c.Region))
	}
	if validHostname(c.LocalHostname) {
		def(&c.Hostname, c.LocalHostname)
	}
	if ip, err := netip.ParseAddr(c.PublicIPv4); err == nil && ip.Is4() && regionOK {
		def(&c.PublicHostname, "ec2-"+strings.ReplaceAll(c.PublicIPv4, ".", "-")+"."+publicDomain(c.Region))
	}

	if ip, err := netip.ParseAddr(c.LocalIPv4); err == nil && ip.Is4() {
		sub, _ := ip.Prefix(24)
		vpc, _ := ip.Prefix(16)
		def(&c.SubnetIPv4CIDR, sub.String())
		def(&c.VPCIPv4CIDR, vpc.String())
	}
	// What belongs to the instance derives from its id; what instances
	// share (their network, their security groups) from the account and the
	// network, so that guests in one subnet see one subnet-id and vpc-id,
	// as on EC2.
	id := func(prefix string, n int) string { return prefix + derive(c.InstanceID, prefix, n) }
	shared := func(prefix, of string) string { return prefix + derive(c.AccountID+"/"+of, prefix, 17) }
	def(&c.AMIID, id("ami-", 17))
	def(&c.ReservationID, id("r-", 17))
	def(&c.InterfaceID, id("eni-", 17))
	def(&c.SubnetID, shared("subnet-", c.SubnetIPv4CIDR))
	def(&c.VPCID, shared("vpc-", c.VPCIPv4CIDR))
	if regionOK && reZone.MatchString(c.AvailabilityZone) {
		def(&c.AvailabilityZoneID, zoneID(c.Region, c.AvailabilityZone))
	}
	if c.SecurityGroups == nil {
		c.SecurityGroups = []string{"default"}
	}
	if c.SecurityGroupIDs == nil {
		c.SecurityGroupIDs = make([]string, 0, len(c.SecurityGroups))
		for _, g := range c.SecurityGroups {
			c.SecurityGroupIDs = append(c.SecurityGroupIDs, shared("sg-", c.VPCIPv4CIDR+"/"+g))
		}
	}
	def(&c.HTTPTokens, "required")
	def(&c.HTTPEndpoint, "enabled")

	if a := c.IAM; a != nil && reRole.MatchString(a.Role) && reAccount.MatchString(c.AccountID) {
		seed := c.InstanceID + "/" + a.Role
		def(&a.AccessKeyID, "ASIA"+strings.ToUpper(derive(seed, "akid", 16)))
		def(&a.SecretAccessKey, base64.RawStdEncoding.EncodeToString(sum(seed, "secret"))[:40])
		def(&a.Token, base64.StdEncoding.EncodeToString(append(sum(seed, "token"), sum(seed, "token2")...)))
		def(&a.InstanceProfileArn, "arn:"+partition(c.Region)+":iam::"+c.AccountID+":instance-profile/"+a.Role)
		def(&a.InstanceProfileID, "AIPA"+strings.ToUpper(derive(seed, "aipa", 16)))
	}

	switch {
	case c.UserData != nil:
		c.userData = []byte(*c.UserData)
	case c.UserDataBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(*c.UserDataBase64), ""))
		if err != nil {
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				p.errorf("user_data_base64", "is not valid base64: bad data at character %d (blanks not counted); expected standard base64: A-Z a-z 0-9 + / and = padding", int64(ce)+1)
			} else {
				p.errorf("user_data_base64", "is not valid base64: %v", err)
			}
		}
		c.userData = b
	}

	c.keys = make([]PublicKey, len(c.SSHPublicKeys))
	names := map[string]bool{}
	for i, k := range c.SSHPublicKeys {
		f := strings.Fields(k)
		name := ""
		if len(f) >= 3 {
			name = strings.Join(f[2:], " ")
		}
		if name == "" || names[name] {
			name = fmt.Sprintf("key-%d", i)
		}
		names[name] = true
		c.keys[i] = PublicKey{Name: name, Key: strings.TrimSpace(k)}
	}

	p.faults(c)
}

// faults builds the fault table from endpoint_delay_ms and force_status,
// whose keys are paths in any of the forms a client may send. The keys are
// taken in file order, so that of two keys meaning the same path the later
// one is the one reported.
func (p *parser) faults(c *Config) {
	c.faults = map[string]Fault{}
	for _, g := range []struct {
		group string
		vals  map[string]int
		set   func(*Fault, int)
	}{
		{"endpoint_delay_ms", c.EndpointDelayMS, func(f *Fault, v int) { f.DelayMS = v }},
		{"force_status", c.ForceStatus, func(f *Fault, v int) { f.Status = v }},
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
				if l := p.line(p.keys[p.full(joinKey(g.group, prev))]); l > 0 && p.given(joinKey(g.group, prev)) {
					where = fmt.Sprintf(" on line %d", l)
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
			f, ok := c.faults[key]
			if !ok {
				f = Fault{DelayMS: -1}
			}
			g.set(&f, g.vals[raw])
			c.faults[key] = f
		}
	}
}

// knownTarget reports whether a normalised fault path (an [imdspath.Key])
// can match a request: "" is a version's own listing, such as /latest/.
func knownTarget(key string) bool {
	first, _, _ := strings.Cut(key, "/")
	switch first {
	case "", "meta-data", "dynamic", "user-data":
		return true
	}
	return key == "api/token"
}

// fileOrder returns the keys of the object at group in the order the file
// gives them.
func (p *parser) fileOrder(group string, m map[string]int) []string {
	ks := sortedKeys(m)
	sort.SliceStable(ks, func(i, j int) bool {
		return p.keys[p.full(joinKey(group, ks[i]))] < p.keys[p.full(joinKey(group, ks[j]))]
	})
	return ks
}

// internalDomain is the domain of EC2's private host names in region.
func internalDomain(region string) string {
	if region == "us-east-1" {
		return "ec2.internal"
	}
	return region + ".compute.internal"
}

// publicDomain is the domain of EC2's public host names in region.
func publicDomain(region string) string {
	switch {
	case region == "us-east-1":
		return "compute-1.amazonaws.com"
	case strings.HasPrefix(region, "cn-"):
		return region + ".compute.amazonaws.com.cn"
	}
	return region + ".compute.amazonaws.com"
}

// partition is the AWS partition of region, as used in ARNs.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func sum(seed, purpose string) []byte {
	h := sha256.Sum256([]byte(purpose + "\x00" + seed))
	return h[:]
}

// derive returns n hex digits determined by seed and purpose.
func derive(seed, purpose string, n int) string {
	return hex.EncodeToString(sum(seed, purpose))[:n]
}

// zoneID derives an availability zone id in AWS's style ("use2-az2" for
// us-east-2b) from the region and zone names.
func zoneID(region, zone string) string {
	short := map[string]string{
		"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
		"northeast": "ne", "gov": "g", "northwest": "nw", "southeast": "se", "southwest": "sw",
	}
	var b strings.Builder
	for i, part := range strings.Split(region, "-") {
		switch s, ok := short[part]; {
		case ok:
			b.WriteString(s)
		case i == 0 && len(part) > 3:
			b.WriteString(part[:3])
		default:
			b.WriteString(part)
		}
	}
	n := 1
	if strings.HasPrefix(zone, region) && len(zone) > len(region) {
		if c := zone[len(zone)-1]; c >= 'a' && c <= 'z' {
			n = int(c-'a') + 1
		}
	}
	return fmt.Sprintf("%s-az%d", b.String(), n)
}
