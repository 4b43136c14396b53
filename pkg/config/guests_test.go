package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoGuests = `{
  "instance_id": "i-0000000000000000a",
  "region": "us-east-2",
  "tags": {"Env": "lab", "Owner": "ops"},
  "iam": {"role": "base", "access_key_id": "AKIABASE"},
  "user_data": "#cloud-config\n",
  "unknown_clients": "deny",
  "token_hop_limit": 2,
  "instances": [
    {
      "match": ["10.0.0.11", "::ffff:10.0.2.1"],
      "instance_id": "i-0000000000000000b",
      "tags": {"Owner": "web"},
      "iam": {"access_key_id": "AKIAWEB"},
      "user_data_base64": "AAEC"
    },
    {
      "match": ["10.0.1.0/28", "fd00::11"],
      "listen": "169.254.169.254:80",
      "instance_id": "i-0000000000000000c",
      "local_ipv4": "10.0.1.5"
    }
  ]
}`

func TestGuests(t *testing.T) {
	c, warns, err := Parse("t.json", []byte(twoGuests))
	if err != nil || len(warns) > 0 {
		t.Fatalf("Parse: %v, warnings %v", err, warns)
	}
	if !c.DenyUnknown() || c.HopLimit() != 2 {
		t.Errorf("DenyUnknown %v HopLimit %d, want true 2", c.DenyUnknown(), c.HopLimit())
	}
	gs := c.Entries()
	if len(gs) != 2 {
		t.Fatalf("%d guests, want 2", len(gs))
	}
	web, db := gs[0], gs[1]

	if got := web.Clients; len(got) != 2 || got[0] != netip.MustParsePrefix("10.0.0.11/32") || got[1] != netip.MustParsePrefix("10.0.2.1/32") {
		t.Errorf("web match %v; want 10.0.0.11/32 and the unmapped 10.0.2.1/32", got)
	}
	if web.Origin != "t.json:10" {
		t.Errorf("web origin %q, want t.json:10", web.Origin)
	}
	w := web.Instance
	if w.InstanceID != "i-0000000000000000b" || w.Region != "us-east-2" {
		t.Errorf("web: instance %q region %q", w.InstanceID, w.Region)
	}
	if w.Tags["Env"] != "lab" || w.Tags["Owner"] != "web" {
		t.Errorf("web tags %v: want Env inherited and Owner overridden", w.Tags)
	}
	if w.IAM.Role != "base" || w.IAM.AccessKeyID != "AKIAWEB" {
		t.Errorf("web iam %+v: want role inherited, key overridden", *w.IAM)
	}
	if string(w.UserDataBytes()) != "\x00\x01\x02" {
		t.Errorf("web user-data %q: the instance's base64 must replace the inherited text", w.UserDataBytes())
	}
	if c.Tags["Owner"] != "ops" || c.IAM.AccessKeyID != "AKIABASE" {
		t.Errorf("the top level changed: tags %v iam %+v", c.Tags, *c.IAM)
	}

	d := db.Instance
	if db.Local != netip.MustParseAddrPort("169.254.169.254:80") {
		t.Errorf("db listen %v", db.Local)
	}
	if d.LocalHostname != "ip-10-0-1-5.us-east-2.compute.internal" {
		t.Errorf("db local hostname %q: must derive from its own address", d.LocalHostname)
	}
	if d.AMIID == c.AMIID || d.AMIID == w.AMIID {
		t.Errorf("db ami-id %q must derive from its own instance id", d.AMIID)
	}
	if string(d.UserDataBytes()) != "#cloud-config\n" {
		t.Errorf("db user-data %q, want the inherited one", d.UserDataBytes())
	}
}

func TestGuestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		errs []string
	}{
		{
			name: "overlap and duplicate id",
			src: `{
  "instances": [
    {"match": ["10.0.0.0/24"], "instance_id": "i-0000000000000000b"},
    {"match": ["10.0.0.7"], "instance_id": "i-0000000000000000b"}
  ]
}`,
			errs: []string{
				`t.json:4: instances[1].match[0]: 10.0.0.7/32 overlaps 10.0.0.0/24 of the instance at t.json:3: a client would belong to two instances`,
				`t.json:4: instances[1].instance_id: "i-0000000000000000b" is also the instance id of the instance at t.json:3; give each instance its own instance_id`,
			},
		},
		{
			name: "inherited duplicate id",
			src:  `{"instance_id": "i-0000000000000000a", "instances": [{"match": ["10.0.0.1"]}, {"match": ["10.0.0.2"]}]}`,
			errs: []string{
				`t.json:1: instances[1].instance_id: "i-0000000000000000a" (inherited from the top level) is also the instance id of the instance at t.json:1; give each instance its own instance_id`,
			},
		},
		{
			name: "bad match, listen, misplaced keys",
			src: `{
  "match": ["10.0.0.1"],
  "instances": [
    {"match": ["10.0.0.300", "nonsense/8"], "listen": "eth0", "instance_id": "i-0000000000000000b",
     "token_hop_limit": 3},
    {"instance_id": "i-0000000000000000c"}
  ]
}`,
			errs: []string{
				`t.json:2: match: belongs inside an entry of instances or a file of instances_dir: at the top level there is no guest to match`,
				`t.json:4: instances[0].match[0]: "10.0.0.300" is not an address, network or MAC address: expected one such as 10.0.0.11, 10.0.1.0/28, fd00::11 or 58:9c:fc:0a:1b:21`,
				`t.json:4: instances[0].match[1]: "nonsense/8" is not an address, network or MAC address: expected one such as 10.0.0.11, 10.0.1.0/28, fd00::11 or 58:9c:fc:0a:1b:21`,
				`t.json:4: instances[0].listen: "eth0" is not a local address: expected an address, or an address and port, such as 169.254.169.254 or 169.254.169.254:80`,
				`t.json:5: instances[0].token_hop_limit: is a top-level key: it configures the service, not one instance`,
				`t.json:6: instances[1].match: is missing: give the addresses, networks or MAC addresses of the guests this instance serves, such as ["10.0.0.11", "10.0.1.0/28", "58:9c:fc:0a:1b:21"], or give the instance its own mac and no match`,
			},
		},
		{
			name: "instance value errors name the entry",
			src: `{"instances": [{"match": ["10.0.0.1"], "instance_id": "i-0000000000000000b",
  "local_ipv4": "10.0.0.999"}]}`,
			errs: []string{
				`t.json:2: instances[0].local_ipv4: "10.0.0.999" is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10`,
			},
		},
		{
			name: "service values",
			src:  `{"unknown_clients": "allow", "token_hop_limit": 65}`,
			errs: []string{
				`t.json:1: unknown_clients: "allow" is not a valid value: expected "default" (serve the top-level values) or "deny" (answer 403)`,
				`t.json:1: token_hop_limit: 65 is out of range: expected 1 to 64, as EC2's http-put-response-hop-limit`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, _ := parseMessages(t, tt.src)
			sameLines(t, "errors", errs, tt.errs)
		})
	}
}

func TestInstancesDir(t *testing.T) {
	dir := t.TempDir()
	vms := filepath.Join(dir, "vms")
	if err := os.Mkdir(vms, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(vms, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"match": ["10.0.0.11"], "instance_id": "i-0000000000000000a", "hostname": "web1"}`)
	write("b.json", "# the database\n{\"match\": [\"10.0.0.12\"], \"instance_id\": \"i-0000000000000000b\"}\n")
	write("notes.txt", `not a guest`)
	main := filepath.Join(dir, "imdsd.conf")
	if err := os.WriteFile(main, []byte(`{"instances_dir": "vms", "instance_id": "i-00000000000000000"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	c, _, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	gs := c.Entries()
	if len(gs) != 2 || gs[0].Hostname != "web1" || gs[1].InstanceID != "i-0000000000000000b" {
		t.Fatalf("guests %+v", gs)
	}
	if gs[0].Origin != filepath.Join(vms, "a.json") {
		t.Errorf("origin %q", gs[0].Origin)
	}

	// A broken file and a clash with another file are named with their lines.
	write("c.json", "{\n  \"match\": [\"10.0.0.11\"],\n  \"instance_id\": \"i-0000000000000000c\",\n  \"mac\": \"zz\"\n}")
	_, _, err = Load(main)
	if err == nil {
		t.Fatal("a broken instances_dir file loaded")
	}
	c1 := filepath.Join(vms, "c.json")
	sameLines(t, "errors", strings.Split(err.Error(), "\n"), []string{
		c1 + `:2: match[0]: 10.0.0.11/32 overlaps 10.0.0.11/32 of the instance at ` + filepath.Join(vms, "a.json") + `:1: a client would belong to two instances`,
		c1 + `:4: mac: "zz" is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01`,
	})

	os.RemoveAll(vms)
	_, _, err = Load(main)
	if err == nil || !strings.Contains(err.Error(), "imdsd.conf:1: instances_dir: cannot read "+vms) {
		t.Fatalf("missing instances_dir: %v", err)
	}
}

func TestValuesThatBreakCrawlers(t *testing.T) {
	errs, warns := parseMessages(t, `{
  "tags": {"0=x": "a", "Note": "two\nlines"},
  "security_groups": ["web\u0000"],
  "security_group_ids": ["sg-1"],
  "iam": {"role": ".."}
}`)
	sameLines(t, "errors", errs, []string{
		`t.json:2: tags.Note: "two\nlines" holds a newline or control character: cloud-init would read the value as a list; EC2 tag values are a single line`,
		`t.json:3: security_groups[0]: "web\x00" holds a control character: expected a security group name, such as default`,
		`t.json:5: iam.role: ".." is not an IAM role name: expected 1 to 64 of letters, digits and + = , . @ _ -`,
	})
	sameLines(t, "warnings", warns, []string{
		`t.json:2: tags["0=x"]: looks like a public key entry ("N=name"): cloud-init's crawler reads it as one, fetches tags/instance/0/openssh-key, gets 404 and drops all meta-data`,
	})
}

func TestGuestOverridesFaultSpelledDifferently(t *testing.T) {
	c, _, err := Parse("t.json", []byte(`{
  "endpoint_delay_ms": {"meta-data/hostname": 300},
  "force_status": {"/latest/meta-data/instance-id": 503},
  "instances": [{"match": ["10.0.0.1"], "instance_id": "i-0000000000000000a",
    "endpoint_delay_ms": {"/latest/meta-data/hostname": 0},
    "force_status": {"meta-data/instance-id": 200}}]
}`))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Entries()[0]
	if d, st := g.Fault("meta-data/hostname"); d != 0 || st != 0 {
		t.Errorf("guest hostname fault = %d ms, %d; want its own 0 ms", d, st)
	}
	if _, st := g.Fault("meta-data/instance-id"); st != 200 {
		t.Errorf("guest instance-id status = %d, want its own 200", st)
	}
	if d, _ := c.Fault("meta-data/hostname"); d != 300 {
		t.Errorf("top-level delay changed to %d", d)
	}
}
