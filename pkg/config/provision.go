package config

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/imdsd/imdsd/pkg/imdspath"
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
// ami-id, reservation-id and so on.
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
		c.Region = strings.TrimRight(c.AvailabilityZone, "abcdefghijklmnopqrstuvwxyz")
	}
	def(&c.Region, defRegion)
	def(&c.AvailabilityZone, c.Region+"a")
	def(&c.InstanceType, defInstanceType)
	def(&c.Architecture, defArch)
	if mac, err := net.ParseMAC(c.MAC); err == nil {
		c.MAC = mac.String() // EC2 lists MACs in lowercase
	}

	dashed := strings.ReplaceAll(c.LocalIPv4, ".", "-")
	domain := c.Region + ".compute.internal"
	if c.Region == "us-east-1" {
		domain = "ec2.internal"
	}
	def(&c.LocalHostname, c.Hostname)
	def(&c.LocalHostname, "ip-"+dashed+"."+domain)
	def(&c.Hostname, c.LocalHostname)
	if c.PublicIPv4 != "" {
		def(&c.PublicHostname, "ec2-"+strings.ReplaceAll(c.PublicIPv4, ".", "-")+"."+c.Region+".compute.amazonaws.com")
	}

	id := func(prefix string, n int) string { return prefix + derive(c.InstanceID, prefix, n) }
	def(&c.AMIID, id("ami-", 17))
	def(&c.ReservationID, id("r-", 17))
	def(&c.InterfaceID, id("eni-", 17))
	def(&c.SubnetID, id("subnet-", 17))
	def(&c.VPCID, id("vpc-", 17))
	def(&c.AvailabilityZoneID, zoneID(c.Region, c.AvailabilityZone))
	if c.SecurityGroups == nil {
		c.SecurityGroups = []string{"default"}
	}
	if c.SecurityGroupIDs == nil {
		for _, g := range c.SecurityGroups {
			c.SecurityGroupIDs = append(c.SecurityGroupIDs, "sg-"+derive(c.InstanceID, "sg-"+g, 17))
		}
	}
	if ip, err := netip.ParseAddr(c.LocalIPv4); err == nil && ip.Is4() {
		sub, _ := ip.Prefix(24)
		vpc, _ := ip.Prefix(16)
		def(&c.SubnetIPv4CIDR, sub.String())
		def(&c.VPCIPv4CIDR, vpc.String())
	}
	def(&c.HTTPTokens, "required")
	def(&c.HTTPEndpoint, "enabled")

	if a := c.IAM; a != nil {
		seed := c.InstanceID + "/" + a.Role
		def(&a.AccessKeyID, "ASIA"+strings.ToUpper(derive(seed, "akid", 16)))
		def(&a.SecretAccessKey, base64.RawStdEncoding.EncodeToString(sum(seed, "secret"))[:40])
		def(&a.Token, base64.StdEncoding.EncodeToString(append(sum(seed, "token"), sum(seed, "token2")...)))
		def(&a.InstanceProfileArn, "arn:aws:iam::"+c.AccountID+":instance-profile/"+a.Role)
		def(&a.InstanceProfileID, "AIPA"+strings.ToUpper(derive(seed, "aipa", 16)))
	}

	switch {
	case c.UserData != nil:
		c.userData = []byte(*c.UserData)
	case c.UserDataBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(*c.UserDataBase64), ""))
		if err != nil {
			p.errorf("user_data_base64", "not valid base64: %v", err)
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

	c.faults = map[string]Fault{}
	origin := map[string]string{}
	addFault := func(group, raw string, set func(*Fault)) {
		key := imdspath.Key(raw)
		kpath := group + "." + raw
		if prev, ok := origin[group+"\x00"+key]; ok {
			p.errorf(kpath, "names the same path as %q (both mean %q)", prev, key)
			return
		}
		origin[group+"\x00"+key] = raw
		f, ok := c.faults[key]
		if !ok {
			f = Fault{DelayMS: -1}
		}
		set(&f)
		c.faults[key] = f
	}
	for raw, ms := range c.EndpointDelayMS {
		addFault("endpoint_delay_ms", raw, func(f *Fault) { f.DelayMS = ms })
	}
	for raw, st := range c.ForceStatus {
		addFault("force_status", raw, func(f *Fault) { f.Status = st })
	}
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
		"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
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
