package config_test

import (
	"fmt"

	"github.com/imdsd/imdsd/pkg/config"
)

// Load reads a file, or the built-in default for "", and returns every
// problem with its severity: print them all, then stop if it did not load.
func ExampleLoad() {
	for _, path := range []string{"", "testdata/seed.json", "testdata/errors.json"} {
		cfg, diags, err := config.Load(path)
		for _, d := range diags[:min(len(diags), 3)] { // all of them, in a program
			fmt.Printf("%s: %s\n", d.Severity, d)
		}
		name := path
		if name == "" {
			name = config.DefaultName
		}
		if err != nil {
			fmt.Printf("%s does not load: %d problems\n", name, len(diags))
			continue
		}
		fmt.Printf("%s: %s in %s\n", name, cfg.InstanceID, cfg.AvailabilityZone)
	}
	// Output:
	// (built-in default): i-1234567890abcdef0 in antarctica-1a
	// warning: testdata/seed.json:2: instance_id: "i-1234567890" is not shaped like an EC2 instance id ("i-" and 8 or 17 lowercase hex digits, such as i-0123456789abcdef0); clients that check the length may reject it
	// warning: testdata/seed.json:12: availability_zone: "antarc-north-1z" does not start with region "antarctica-1"; clients that derive the region from the zone (botocore, aws-sdk-go v1) will see region "antarc-north-1"
	// testdata/seed.json: i-1234567890 in antarc-north-1z
	// error: testdata/errors.json:3: instance_id: "instance-1" is not an instance id: expected "i-" followed by letters or digits, such as i-0123456789abcdef0
	// error: testdata/errors.json:4: instanceid: unknown key (did you mean "instance_id"?)
	// error: testdata/errors.json:5: hostname: "bad_host" is not a host name: expected labels of letters, digits and hyphens joined by dots, such as ip-10-0-0-10.ec2.internal
	// testdata/errors.json does not load: 38 problems
}

// An entry inherits the top level's values and merges its own over them.
func ExampleConfig_Entries() {
	cfg, _, err := config.Parse("imdsd.conf", []byte(`{
  "region": "eu-central-1",
  "tags": {"Environment": "lab"},
  "unknown_clients": "deny",
  "instances": [
    {"match": ["10.0.0.11"], "instance_id": "i-0a1b2c3d4e5f60011", "local_ipv4": "10.0.0.11", "tags": {"Name": "web1"}}
  ]
}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range cfg.Entries() {
		fmt.Println(e.Origin, e.Clients, e.InstanceID, e.LocalHostname, e.Tags)
	}
	// Output:
	// imdsd.conf:6 [10.0.0.11/32] i-0a1b2c3d4e5f60011 ip-10-0-0-11.eu-central-1.compute.internal map[Environment:lab Name:web1]
}
