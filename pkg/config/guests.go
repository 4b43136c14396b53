package config

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/imdsd/imdsd/internal/imdspath"
)

// topOnly are the keys that configure the service rather than an instance.
var topOnly = []string{"instances", "instances_dir", "unknown_clients", "token_key_file", "token_hop_limit",
	"max_connections", "max_connections_per_client", "header_timeout_ms", "max_header_bytes", "rate_limit"}

// instanceOnly are the keys that only mean something inside an instance.
var instanceOnly = []string{"match", "listen"}

// MaxHopLimit is the largest token_hop_limit EC2 accepts.
const MaxHopLimit = 64

// validateService checks the top-level keys that configure the service.
func (p *parser) validateService(c *Config, dir string) {
	for _, k := range instanceOnly {
		if p.given(k) {
			p.errorf(k, "belongs inside an entry of instances or a file of instances_dir: at the top level there is no guest to match")
		}
	}
	switch c.UnknownClients {
	case "":
		c.UnknownClients = "default"
	case "default", "deny":
	default:
		p.errorf("unknown_clients", "%s is not a valid value: expected \"default\" (serve the top-level values) or \"deny\" (answer 403)", quote(c.UnknownClients))
	}
	if p.given("token_hop_limit") && (c.TokenHopLimit < 1 || c.TokenHopLimit > MaxHopLimit) {
		p.errorf("token_hop_limit", "%d is out of range: expected 1 to %d, as EC2's http-put-response-hop-limit", c.TokenHopLimit, MaxHopLimit)
	}
	if c.TokenKeyFile != "" {
		c.TokenKeyFile = resolve(dir, c.TokenKeyFile)
	}
	if c.InstancesDir != "" {
		c.InstancesDir = resolve(dir, c.InstancesDir)
	}
	p.validateProtection(c)
	if c.UnknownClients == "deny" && len(c.Instances) == 0 && c.InstancesDir == "" {
		p.warnf("unknown_clients", "is \"deny\" but no instances are configured: every client is refused")
	}
}

// resolve makes a path from the configuration relative to its file's
// directory.
func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// inheritable returns a copy of c, decoded but not provisioned, holding only
// what instances inherit.
func (c *Config) inheritable() *Config {
	m := *c
	m.Instances, m.InstancesDir, m.UnknownClients, m.TokenKeyFile, m.TokenHopLimit = nil, "", "", "", 0
	m.MaxConnections, m.MaxConnectionsPerClient, m.HeaderTimeoutMS, m.MaxHeaderBytes, m.RateLimit = 0, 0, 0, 0, nil
	m.Match, m.Listen = nil, ""
	m.Tags = maps.Clone(c.Tags)
	m.EndpointDelayMS = maps.Clone(c.EndpointDelayMS)
	m.ForceStatus = maps.Clone(c.ForceStatus)
	m.SSHPublicKeys = slices.Clone(c.SSHPublicKeys)
	m.SecurityGroups = slices.Clone(c.SecurityGroups)
	m.SecurityGroupIDs = slices.Clone(c.SecurityGroupIDs)
	if c.IAM != nil {
		a := *c.IAM
		m.IAM = &a
	}
	return &m
}

// overlay sets in dst every key the instance src gives: whole values
// replace, objects (tags, iam, endpoint_delay_ms, force_status) merge key by
// key.
func overlay(dst, src *Config, given func(path string) bool) {
	if given("user_data") || given("user_data_base64") {
		dst.UserData, dst.UserDataBase64 = nil, nil // the instance's user-data replaces the default's
	}
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	t := dv.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := jsonName(f)
		if !f.IsExported() || key == "" || !given(key) {
			continue
		}
		d, s := dv.Field(i), sv.Field(i)
		switch {
		case f.Type.Kind() == reflect.Map:
			if d.IsNil() {
				d.Set(reflect.MakeMap(f.Type))
			}
			paths := key == "endpoint_delay_ms" || key == "force_status"
			for it := s.MapRange(); it.Next(); {
				if paths { // an inherited spelling of the same path gives way
					want := imdspath.Key(it.Key().String())
					for _, k := range d.MapKeys() {
						if imdspath.Key(k.String()) == want {
							d.SetMapIndex(k, reflect.Value{})
						}
					}
				}
				d.SetMapIndex(it.Key(), it.Value())
			}
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct && !d.IsNil() && !s.IsNil():
			merged := reflect.New(f.Type.Elem())
			merged.Elem().Set(d.Elem())
			et := f.Type.Elem()
			for j := 0; j < et.NumField(); j++ {
				if given(key + "." + jsonName(et.Field(j))) {
					merged.Elem().Field(j).Set(s.Elem().Field(j))
				}
			}
			d.Set(merged)
		default:
			d.Set(s)
		}
	}
}

// guestSource is a guest being built and where messages about it go.
type guestSource struct {
	g     *Guest
	owner *parser // collects the messages: the main file's or an instances_dir file's
	scope string  // the guest's path in owner: "instances[1]", or "" for a file
	top   bool    // its instance_id is inherited from the top level
}

// in returns owner scoped to the guest; messages recorded on it must be
// handed back with done.
func (s guestSource) in() *parser {
	sub := *s.owner
	sub.scope, sub.errs, sub.warns = s.scope, nil, nil
	return &sub
}

func (s guestSource) done(sub *parser) {
	s.owner.errs = append(s.owner.errs, sub.errs...)
	s.owner.warns = append(s.owner.warns, sub.warns...)
}

// guests builds c's guests from instances and instances_dir. Each is the
// top level's values (base, decoded but not provisioned) with the
// instance's own over them, provisioned and validated on its own, so that
// ids derive from the guest's instance id. Messages about a guest name its
// entry ("instances[1].local_ipv4") or file.
func (p *parser) guests(c *Config, base *Config) (files []*parser) {
	topMsgs := map[string]bool{}
	for _, e := range p.errs {
		topMsgs[e.Key+"\x00"+e.Msg] = true
	}
	var srcs []guestSource
	for i := range c.Instances {
		src := guestSource{owner: p, scope: fmt.Sprintf("instances[%d]", i)}
		sub := src.in()
		src.g = sub.guest(&c.Instances[i], base, topMsgs, fmt.Sprintf("%s:%d", p.file, p.line(p.keys[src.scope])))
		src.top = !sub.given("instance_id")
		src.done(sub)
		srcs = append(srcs, src)
	}
	c.Instances = nil // each is now a Guest

	if c.InstancesDir != "" {
		names, err := filepath.Glob(filepath.Join(c.InstancesDir, "*.json"))
		if err == nil {
			_, err = os.ReadDir(c.InstancesDir)
		}
		if err != nil {
			p.errorf("instances_dir", "cannot read %s: %v", c.InstancesDir, err)
		}
		slices.Sort(names)
		for _, name := range names {
			data, err := os.ReadFile(name)
			sub := &parser{file: name, keys: map[string]int64{}, bad: map[string]bool{}}
			files = append(files, sub)
			if err != nil {
				sub.errAt(-1, "cannot read: "+err.Error())
				continue
			}
			sub.data = stripComments(data)
			inst := &Config{}
			if !sub.decode(inst) {
				continue
			}
			g := sub.guest(inst, base, topMsgs, name)
			srcs = append(srcs, guestSource{g: g, owner: sub, top: !sub.given("instance_id")})
		}
	}

	p.crossCheck(srcs)
	for _, s := range srcs {
		c.guests = append(c.guests, s.g)
	}
	return files
}

// guest builds one guest from inst, an instances entry or a file of
// instances_dir; p is scoped to it.
func (p *parser) guest(inst, base *Config, topMsgs map[string]bool, origin string) *Guest {
	for _, k := range topOnly {
		if p.given(k) {
			p.errorf(k, "is a top-level key: it configures the service, not one instance")
		}
	}
	m := base.inheritable()
	overlay(m, inst, p.given)
	p.provision(m)
	p.validate(m)
	g := &Guest{Config: m, Origin: origin}

	if len(inst.Match) == 0 && !p.isBad("match") {
		p.errorf("match", "is missing: give the addresses or networks of the guests this instance serves, such as [\"10.0.0.11\", \"10.0.1.0/28\"]")
	}
	for j, s := range inst.Match {
		pf, err := parseMatch(s)
		if err != nil {
			p.errorf("match["+strconv.Itoa(j)+"]", "%s is not an address or network: expected one such as 10.0.0.11, 10.0.1.0/28 or fd00::11", quote(s))
			continue
		}
		g.Match = append(g.Match, pf)
		if linkLocal(pf) {
			p.warnf("match["+strconv.Itoa(j)+"]", "%s is link-local: any guest on the link can send from it and get this instance's user-data and credentials, unless a filter keeps each guest to its own address (see MANY GUESTS in imdsd(8)); match the guest's own unique address instead", pf)
		}
	}
	if inst.Listen != "" {
		ap, err := parseListen(inst.Listen)
		if err != nil {
			p.errorf("listen", "%s is not a local address: expected an address, or an address and port, such as 169.254.169.254 or 169.254.169.254:80", quote(inst.Listen))
		}
		g.Listen = ap
	}

	// An inherited value is checked at the top level already; say it once.
	kept := p.errs[:0]
	for _, e := range p.errs {
		rel := strings.TrimPrefix(strings.TrimPrefix(e.Key, p.scope), ".")
		if !p.given(rel) && topMsgs[rel+"\x00"+e.Msg] {
			continue
		}
		kept = append(kept, e)
	}
	p.errs = kept
	return g
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

// linkLocal reports whether pf holds link-local addresses (fe80::/10,
// 169.254.0.0/16), which nothing ties to one guest.
func linkLocal(pf netip.Prefix) bool {
	return pf.Overlaps(netip.MustParsePrefix("fe80::/10")) || pf.Overlaps(netip.MustParsePrefix("169.254.0.0/16"))
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

// listenOverlap reports whether two guests' listen restrictions can both
// apply to one connection.
func listenOverlap(a, b netip.AddrPort) bool {
	if !a.IsValid() || !b.IsValid() {
		return true
	}
	return a.Addr() == b.Addr() && (a.Port() == 0 || b.Port() == 0 || a.Port() == b.Port())
}

// crossCheck reports guests that would share a client and instance ids used
// twice, naming both places.
func (p *parser) crossCheck(srcs []guestSource) {
	type place struct {
		g     *Guest
		where string
	}
	var matches []place
	ids := map[string]place{}
	for _, s := range srcs {
		sub := s.in()
		for j, pf := range s.g.Match {
			key := "match[" + strconv.Itoa(j) + "]"
			for _, prev := range matches {
				for _, q := range prev.g.Match {
					if pf.Overlaps(q) && listenOverlap(s.g.Listen, prev.g.Listen) {
						sub.errorf(key, "%s overlaps %s of the instance at %s: a client would belong to two instances", pf, q, prev.where)
					}
				}
			}
		}
		matches = append(matches, place{g: s.g, where: sub.where("match")})
		id := s.g.Config.InstanceID
		if prev, dup := ids[id]; dup {
			why := ""
			if s.top {
				why = " (inherited from the top level)"
			}
			sub.errorf("instance_id", "%s%s is also the instance id of the instance at %s; give each instance its own instance_id", quote(id), why, prev.where)
		} else {
			ids[id] = place{g: s.g, where: sub.where("instance_id")}
		}
		s.done(sub)
	}
}

// where says "file:line" for the key at path.
func (p *parser) where(path string) string {
	e := p.at(path, "")
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return e.File
}

// validateProtection fills in and checks the load protection keys. A key
// left out takes its default; max_connections, max_connections_per_client
// and rate_limit.requests_per_second given as 0 turn that protection off.
func (p *parser) validateProtection(c *Config) {
	ints := []struct {
		key      string
		v        *int
		def      int
		min, max int
		unit     string
	}{
		{"max_connections", &c.MaxConnections, DefaultMaxConnections, 0, 1_000_000, "connections (0: no cap)"},
		{"max_connections_per_client", &c.MaxConnectionsPerClient, DefaultMaxConnectionsPerClient, 0, 1_000_000, "connections (0: no cap)"},
		{"header_timeout_ms", &c.HeaderTimeoutMS, DefaultHeaderTimeoutMS, 100, 600_000, "milliseconds"},
		{"max_header_bytes", &c.MaxHeaderBytes, DefaultMaxHeaderBytes, 1024, 65536, "bytes"},
	}
	for _, k := range ints {
		if !p.given(k.key) {
			*k.v = k.def
			continue
		}
		if *k.v < k.min || *k.v > k.max {
			p.errorf(k.key, "%d is out of range: expected %d to %d %s", *k.v, k.min, k.max, k.unit)
		}
	}
	if c.RateLimit == nil {
		c.RateLimit = &RateLimit{RequestsPerSecond: DefaultRequestsPerSecond}
	} else if !p.given("rate_limit.requests_per_second") {
		c.RateLimit.RequestsPerSecond = DefaultRequestsPerSecond
	}
	r := c.RateLimit
	if r.RequestsPerSecond < 0 || r.RequestsPerSecond > 1_000_000 {
		p.errorf("rate_limit.requests_per_second", "%d is out of range: expected 0 (no limit) to 1000000", r.RequestsPerSecond)
	}
	if !p.given("rate_limit.burst") {
		r.Burst = 2 * r.RequestsPerSecond
	} else if r.Burst < 1 || r.Burst > 1_000_000 {
		p.errorf("rate_limit.burst", "%d is out of range: expected 1 to 1000000 requests", r.Burst)
	}
	switch r.Action {
	case "":
		r.Action = "delay"
	case "delay", "429", "503":
	default:
		p.errorf("rate_limit.action", "%s is not a valid value: expected \"delay\" (as EC2), \"429\" or \"503\"", quote(r.Action))
	}
}
