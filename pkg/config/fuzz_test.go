package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/internal/strictjson"
)

// FuzzParse checks that Parse never panics, always answers the same way,
// places every message in the file, and that a configuration it accepts is
// complete: every value a client reads is there and well formed.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"iam": {"role": "r"}, "tags": {"k": "v"}, "user_data_base64": "YQ=="}`))
	f.Add([]byte(`{"force_status": {"/latest/api/token": 500, "api/token": 404}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, warns, err := Parse("f.json", data)
		check := func(l ErrorList, what string) {
			lines := strings.Count(string(data), "\n") + 1
			for _, e := range l {
				if e == nil {
					t.Fatalf("nil %s", what)
				}
				if e.File != "f.json" || e.Msg == "" || e.Line < 0 || e.Line > lines {
					t.Fatalf("malformed %s %+v (file has %d lines)", what, e, lines)
				}
				if !strings.HasPrefix(e.Error(), "f.json") {
					t.Fatalf("%s %q does not start with the file name", what, e.Error())
				}
			}
		}
		check(warns, "warning")
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
			if c != nil {
				t.Fatalf("a config and an error")
			}
			check(list, "error")
		} else {
			if c == nil {
				t.Fatalf("neither a config nor an error")
			}
			complete(t, c)
		}

		// The same input gives the same answer.
		_, warns2, err2 := Parse("f.json", data)
		if errText(err) != errText(err2) || ErrorList(warns).Error() != ErrorList(warns2).Error() {
			t.Fatalf("two parses differ:\n%v\n%v", err, err2)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// complete fails t unless every value of an accepted configuration is
// present and valid.
func complete(t *testing.T, c *Config) {
	t.Helper()
	completeInstance(t, &c.Instance)
	if c.UnknownClients == "" || c.RateLimit == nil || c.RateLimit.Action == "" {
		t.Fatalf("accepted config has unknown_clients %q, rate_limit %+v", c.UnknownClients, c.RateLimit)
	}
	for _, g := range c.Entries() {
		if len(g.Clients) == 0 && len(g.MACs) == 0 {
			t.Fatalf("entry %s matches nothing", g.Origin)
		}
		completeInstance(t, &g.Instance)
	}
}

// completeInstance fails t unless every value of an accepted instance is
// present and valid.
func completeInstance(t *testing.T, c *Instance) {
	t.Helper()
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.String {
			continue
		}
		switch f.Name {
		case "PublicIPv4", "PublicHostname":
			continue // absent without a public address
		}
		if v.Field(i).String() == "" {
			t.Fatalf("accepted config has an empty %s", strictjson.Name(f))
		}
	}
	if !reInstanceID.MatchString(c.InstanceID) || !reMAC.MatchString(c.MAC) || !reRegion.MatchString(c.Region) ||
		!reZone.MatchString(c.AvailabilityZone) || !reAccount.MatchString(c.AccountID) {
		t.Fatalf("accepted config has a malformed id: %q %q %q %q %q", c.InstanceID, c.MAC, c.Region, c.AvailabilityZone, c.AccountID)
	}
	if !validHostname(c.Hostname) || !validHostname(c.LocalHostname) {
		t.Fatalf("accepted config has a bad host name: %q %q", c.Hostname, c.LocalHostname)
	}
	if a, err := netip.ParseAddr(c.LocalIPv4); err != nil || !a.Is4() {
		t.Fatalf("accepted config has local_ipv4 %q", c.LocalIPv4)
	}
	if c.PublicIPv4 != "" {
		if _, ok := publicIPv4(c); !ok || c.PublicHostname == "" {
			t.Fatalf("accepted config has public_ipv4 %q, public_hostname %q", c.PublicIPv4, c.PublicHostname)
		}
	}
	if len(c.SecurityGroupIDs) != len(c.SecurityGroups) {
		t.Fatalf("accepted config has %d group ids for %d groups", len(c.SecurityGroupIDs), len(c.SecurityGroups))
	}
	if len(c.PublicKeys()) != len(c.SSHPublicKeys) {
		t.Fatalf("%d public keys for %d ssh_public_keys", len(c.PublicKeys()), len(c.SSHPublicKeys))
	}
	for i, k := range c.PublicKeys() {
		if k.Name == "" || k.Key == "" || strings.ContainsAny(k.Key+k.Name, "\r\n") {
			t.Fatalf("public key %d is %+v", i, k)
		}
	}
	if len(c.UserDataBytes()) > MaxUserData {
		t.Fatalf("accepted %d bytes of user-data", len(c.UserDataBytes()))
	}
	if a := c.IAM; a != nil {
		if a.Role == "" || a.AccessKeyID == "" || a.SecretAccessKey == "" || a.Token == "" || a.InstanceProfileArn == "" || a.InstanceProfileID == "" {
			t.Fatalf("accepted config has incomplete IAM %+v", *a)
		}
	}
	for path, f := range c.faults {
		if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
			t.Fatalf("fault %q has status %d", path, f.Status)
		}
		if f.DelayMS < -1 || f.DelayMS > maxDelayMS {
			t.Fatalf("fault %q has delay %d", path, f.DelayMS)
		}
	}
	if c.DefaultDelayMS < 0 || c.DefaultDelayMS > maxDelayMS {
		t.Fatalf("default delay %d", c.DefaultDelayMS)
	}
	if c.HTTPTokens != "required" && c.HTTPTokens != "optional" || c.HTTPEndpoint != "enabled" && c.HTTPEndpoint != "disabled" {
		t.Fatalf("modes %q %q", c.HTTPTokens, c.HTTPEndpoint)
	}
}
