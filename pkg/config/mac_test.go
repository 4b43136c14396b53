package config

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func macs(ms []net.HardwareAddr) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.String())
	}
	return strings.Join(s, " ")
}

func TestMatchByMAC(t *testing.T) {
	data, err := os.ReadFile("testdata/mac.json")
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Parse("mac.json", data)
	if err != nil {
		t.Fatal(err)
	}
	es := c.Entries()
	for i, want := range []struct {
		macs    string
		clients string
		own     bool
		derives bool
	}{
		{"58:9c:fc:0a:1b:21", "", true, true},
		// Any spelling net.ParseMAC takes, written as EC2 writes MACs.
		{"52:54:00:0a:1b:31 bc:24:11:0a:1b:41", "", false, true},
		// An entry giving both keys has nothing to take from the client.
		{"58:9c:fc:0a:1b:22", "[10.0.0.22/32]", false, false},
	} {
		e := es[i]
		if got := macs(e.MACs); got != want.macs {
			t.Errorf("entry %d: MACs %q, want %q", i, got, want.macs)
		}
		if got := strings.ReplaceAll(strings.Trim(strings.ReplaceAll(fmtPrefixes(e.Clients), " ", ","), ","), ",", " "); got != want.clients {
			t.Errorf("entry %d: Clients %q, want %q", i, got, want.clients)
		}
		if e.ByOwnMAC() != want.own || e.DerivesFromClient() != want.derives {
			t.Errorf("entry %d: ByOwnMAC %t, DerivesFromClient %t; want %t, %t", i, e.ByOwnMAC(), e.DerivesFromClient(), want.own, want.derives)
		}
	}
	// The top level's mac and local_ipv4 are not the guests': an entry
	// inherits them, as loaded, only for clients not matched by MAC.
	if es[0].MAC != "58:9c:fc:0a:1b:21" || es[1].MAC != "02:00:00:00:01:00" || es[1].LocalIPv4 != "10.0.0.250" {
		t.Errorf("entries as loaded: %q, %q %q", es[0].MAC, es[1].MAC, es[1].LocalIPv4)
	}
}

func fmtPrefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return ""
	}
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return "[" + strings.Join(s, ",") + "]"
}

func TestForClient(t *testing.T) {
	c, _, err := Parse("t.json", []byte(`{
  "instance_id": "i-0a1b2c3d4e5f60000", "region": "us-east-2",
  "local_ipv4": "10.0.0.250", "mac": "02:00:00:00:01:00",
  "hostname": "",
  "instances": [
    {"instance_id": "i-0a1b2c3d4e5f60021", "mac": "58:9c:fc:0a:1b:21", "tags": {"Name": "web1"}},
    {"match": ["52:54:00:0a:1b:31"], "instance_id": "i-0a1b2c3d4e5f60031", "local_ipv4": "10.9.0.31"},
    {"match": ["52:54:00:0a:1b:32"], "instance_id": "i-0a1b2c3d4e5f60032", "local_ipv4": "10.9.0.32",
     "mac": "52:54:00:0a:1b:32"},
    {"match": ["52:54:00:0a:1b:33"], "instance_id": "i-0a1b2c3d4e5f60033",
     "subnet_ipv4_cidr_block": "192.168.0.0/20", "local_hostname": "db.example.org"}
  ]
}`))
	if err != nil {
		t.Fatal(err)
	}
	es := c.Entries()
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	a := netip.MustParseAddr

	// Matched by its own mac, from an address the file never names.
	in := es[0].ForClient(a("192.168.7.23"), mac("58:9c:fc:0a:1b:21"))
	for _, kv := range [][2]string{
		{in.LocalIPv4, "192.168.7.23"},
		{in.LocalHostname, "ip-192-168-7-23.us-east-2.compute.internal"},
		{in.Hostname, "ip-192-168-7-23.us-east-2.compute.internal"},
		{in.SubnetIPv4CIDR, "192.168.7.0/24"},
		{in.VPCIPv4CIDR, "192.168.0.0/16"},
		{in.MAC, "58:9c:fc:0a:1b:21"},
		{in.InstanceID, "i-0a1b2c3d4e5f60021"},
		{in.Tags["Name"], "web1"},
		{in.SubnetID, es[0].ForClient(a("192.168.7.99"), mac("58:9c:fc:0a:1b:21")).SubnetID}, // one subnet, one id
	} {
		if kv[0] != kv[1] {
			t.Errorf("ForClient(192.168.7.23): got %q, want %q", kv[0], kv[1])
		}
	}
	if in == &es[0].Instance || es[0].LocalIPv4 != "10.0.0.250" {
		t.Errorf("ForClient changed the entry or returned it: %q", es[0].LocalIPv4)
	}
	if other := es[0].ForClient(a("192.168.8.5"), mac("58:9c:fc:0a:1b:21")); other.SubnetID == in.SubnetID {
		t.Errorf("guests in two subnets share subnet id %s", in.SubnetID)
	}
	// An IPv4-mapped client is IPv4; an IPv6 one cannot be a local_ipv4.
	if got := es[0].ForClient(a("::ffff:192.168.7.24"), mac("58:9c:fc:0a:1b:21")).LocalIPv4; got != "192.168.7.24" {
		t.Errorf("IPv4-mapped client: local_ipv4 %q", got)
	}
	if got := es[0].ForClient(a("fd00::24"), mac("58:9c:fc:0a:1b:21")); got.LocalIPv4 != es[0].LocalIPv4 || got.MAC != "58:9c:fc:0a:1b:21" {
		t.Errorf("IPv6 client: local_ipv4 %q, want the entry's %q", got.LocalIPv4, es[0].LocalIPv4)
	}

	// Its own local_ipv4 stays; the MAC is the client's.
	in = es[1].ForClient(a("192.168.7.31"), mac("52:54:00:0a:1b:31"))
	if in.LocalIPv4 != "10.9.0.31" || in.MAC != "52:54:00:0a:1b:31" || in.LocalHostname != "ip-10-9-0-31.us-east-2.compute.internal" {
		t.Errorf("entry with local_ipv4: %q %q %q", in.LocalIPv4, in.MAC, in.LocalHostname)
	}
	// Both given: the entry's own instance.
	if in := es[2].ForClient(a("192.168.7.32"), mac("52:54:00:0a:1b:32")); in != &es[2].Instance {
		t.Errorf("entry giving local_ipv4 and mac: got a new instance %q", in.LocalIPv4)
	}
	// What the entry gives wins over what would be derived.
	in = es[3].ForClient(a("192.168.7.33"), mac("52:54:00:0a:1b:33"))
	if in.SubnetIPv4CIDR != "192.168.0.0/20" || in.LocalHostname != "db.example.org" || in.Hostname != "db.example.org" || in.LocalIPv4 != "192.168.7.33" {
		t.Errorf("entry giving subnet and name: %q %q %q %q", in.SubnetIPv4CIDR, in.LocalHostname, in.Hostname, in.LocalIPv4)
	}
}

func TestMACInTwoFiles(t *testing.T) {
	dir := t.TempDir()
	vms := filepath.Join(dir, "vms")
	if err := os.Mkdir(vms, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"web1.json": `{"instance_id": "i-0a1b2c3d4e5f60021", "mac": "58:9c:fc:0a:1b:21"}`,
		"web2.json": "{\n  \"instance_id\": \"i-0a1b2c3d4e5f60022\",\n  \"mac\": \"58:9C:FC:0A:1B:21\"\n}",
		// Bound to other listen addresses, one MAC is two guests'.
		"web3.json": `{"instance_id": "i-0a1b2c3d4e5f60023", "mac": "58:9c:fc:0a:1b:23", "listen": "169.254.169.253"}`,
		"web4.json": `{"instance_id": "i-0a1b2c3d4e5f60024", "mac": "58:9c:fc:0a:1b:23", "listen": "169.254.169.254"}`,
	} {
		if err := os.WriteFile(filepath.Join(vms, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "imdsd.conf")
	if err := os.WriteFile(main, []byte(`{"instances_dir": "vms", "instance_id": "i-00000000000000000"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(main)
	if err == nil {
		t.Fatal("a MAC address in two files loaded")
	}
	web1 := filepath.Join(vms, "web1.json")
	sameLines(t, "errors", strings.Split(err.Error(), "\n"), []string{
		filepath.Join(vms, "web2.json") + `:3: mac: 58:9c:fc:0a:1b:21 is also the MAC address of the instance at ` + web1 + `:1: a guest would belong to two instances; give each MAC address to one instance`,
	})
}
