package config

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/imdsd/imdsd/internal/imdspath"
)

// defaults are the values of the instance keys a file may leave out that
// have no derivation: those of the original mock's example.
var defaults = Instance{
	InstanceID:   "i-1234567890",
	LocalIPv4:    "10.0.0.10",
	MAC:          "02:00:00:00:00:01",
	AccountID:    "123456789012",
	Region:       "antarctica-1",
	InstanceType: "a1.pinguin",
	Architecture: "x86_64",
	HTTPTokens:   "required",
	HTTPEndpoint: "enabled",
}

// provision fills in what the file left out, deriving it from what it gave:
// names from the address, ids from the instance id, the zone from the
// region. Derived ids are stable: the same instance id always gives the same
// ami-id, reservation-id and so on. An empty string is the same as leaving
// the key out. Nothing is derived from a value that is not valid (validate
// reports it), so a derived value is never the only sign of a problem.
// provision reports nothing.
func (c *Instance) provision() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.InstanceID, defaults.InstanceID)
	def(&c.LocalIPv4, defaults.LocalIPv4)
	def(&c.MAC, defaults.MAC)
	def(&c.AccountID, defaults.AccountID)
	if c.Region == "" && c.AvailabilityZone != "" {
		if r := strings.TrimRight(c.AvailabilityZone, "abcdefghijklmnopqrstuvwxyz"); r != c.AvailabilityZone && reRegion.MatchString(r) {
			c.Region = r
		}
	}
	def(&c.Region, defaults.Region)
	regionOK := reRegion.MatchString(c.Region)
	if regionOK {
		def(&c.AvailabilityZone, c.Region+"a")
	}
	def(&c.InstanceType, defaults.InstanceType)
	def(&c.Architecture, defaults.Architecture)
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
	def(&c.HTTPTokens, defaults.HTTPTokens)
	def(&c.HTTPEndpoint, defaults.HTTPEndpoint)
	def(&c.Market, "on-demand")

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
		c.userData, _ = decodeUserData(*c.UserDataBase64) // validate reports an error
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
	for _, g := range []struct {
		vals map[string]int
		set  func(*Fault, int)
	}{
		{c.EndpointDelayMS, func(f *Fault, v int) { f.DelayMS = v }},
		{c.ForceStatus, func(f *Fault, v int) { f.Status = v }},
	} {
		// Two keys meaning one path are an error (validate reports it):
		// which of them is taken does not matter.
		for _, raw := range sortedKeys(g.vals) {
			if imdspath.Clean(raw) == "" {
				continue
			}
			key := imdspath.Key(raw)
			f, ok := c.faults[key]
			if !ok {
				f = Fault{DelayMS: -1}
			}
			g.set(&f, g.vals[raw])
			c.faults[key] = f
		}
	}
}

// decodeUserData decodes user_data_base64, which may be broken into lines.
func decodeUserData(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

// provision fills in the service keys left out with their defaults and
// resolves paths relative to dir, the configuration file's directory ("":
// the working directory). A whole number given as 0 turns its protection
// off, so defaults go by what the file gives, not by zero values.
// provision reports nothing; p only says what the file gives.
func (s *Service) provision(p *parser, dir string) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&s.UnknownClients, "default")
	if s.TokenKeyFile != "" {
		s.TokenKeyFile = resolve(dir, s.TokenKeyFile)
	}
	if s.InstancesDir != "" {
		s.InstancesDir = resolve(dir, s.InstancesDir)
	}
	if s.StateFile != "" && s.StateFile != StateFileNone {
		s.StateFile = resolve(dir, s.StateFile)
	}
	for _, k := range []struct {
		key string
		v   *int
		def int
	}{
		{"max_connections", &s.MaxConnections, DefaultMaxConnections},
		{"max_connections_per_client", &s.MaxConnectionsPerClient, DefaultMaxConnectionsPerClient},
		{"header_timeout_ms", &s.HeaderTimeoutMS, DefaultHeaderTimeoutMS},
		{"max_header_bytes", &s.MaxHeaderBytes, DefaultMaxHeaderBytes},
	} {
		if !p.given(k.key) {
			*k.v = k.def
		}
	}
	if s.RateLimit == nil {
		s.RateLimit = &RateLimit{}
	}
	r := s.RateLimit
	if !p.given("rate_limit.requests_per_second") {
		r.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if !p.given("rate_limit.burst") {
		r.Burst = 2 * r.RequestsPerSecond
	}
	def(&r.Action, "delay")
}

// resolve makes a path from the configuration relative to its file's
// directory.
func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// provision fills in the entry: its instance, then the clients (addresses
// and networks, MAC addresses) and the local address from match, mac and
// listen, leaving out what does not parse (validate reports it).
func (e *Entry) provision() {
	e.Instance.provision()
	e.Clients = nil
	for _, s := range e.Match {
		if pf, err := parseMatch(s); err == nil {
			e.Clients = append(e.Clients, pf)
		}
	}
	e.provisionMACs()
	e.Local = netip.AddrPort{}
	if e.Listen != "" {
		e.Local, _ = parseListen(e.Listen)
	}
}

// parseMatch reads "10.0.0.11", "10.0.1.0/28", "fd00::11" or "fd00::/64";
// IPv4-mapped IPv6 is taken as IPv4.
func parseMatch(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if pf.Addr().Is4In6() {
			bits := pf.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("prefix too short for IPv4")
			}
			pf = netip.PrefixFrom(pf.Addr().Unmap(), bits)
		}
		return pf.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseListen reads "169.254.169.254", "169.254.169.254:80" or
// "[fd00:ec2::254]:80"; port 0 means any port.
func parseListen(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), 0), nil
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
