package config

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/imdsd/imdsd/internal/golden"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/internal/strictjson"
)

// jsonString returns s as a JSON string literal.
func jsonString(t testing.TB, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// messages returns the text of each entry of l.
func messages(l ErrorList) []string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.Error()
	}
	return out
}

// parseMessages parses src as "t.json" and returns its error and warning
// messages. A nil error must come with a config, an error with none.
func parseMessages(t *testing.T, src string) (errs, warns []string) {
	t.Helper()
	c, w, err := Parse("t.json", []byte(src))
	if err != nil {
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("Parse error is %T, want ErrorList: %v", err, err)
		}
		if c != nil {
			t.Errorf("Parse returned a config and an error")
		}
		errs = messages(list)
	} else if c == nil {
		t.Fatalf("Parse returned neither a config nor an error")
	}
	return errs, messages(w.Warnings())
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot  %d:\n\t%s\nwant %d:\n\t%s", what, len(got), strings.Join(got, "\n\t"), len(want), strings.Join(want, "\n\t"))
	}
}

// TestErrors has one row per class of error, each with the exact messages.
func TestErrors(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name string
		src  string
		errs []string
	}{
		// Keys.
		{"unknown top-level key", `{"colour": "blue"}`,
			[]string{`t.json:1: colour: unknown key: remove it or correct its spelling`}},
		{"typo suggestion", `{"instanceid": "i-0123456789abcdef0"}`,
			[]string{`t.json:1: instanceid: unknown key (did you mean "instance_id"?)`}},
		{"typo suggestion, case", `{"Instance-ID": "i-0123456789abcdef0"}`,
			[]string{`t.json:1: Instance-ID: unknown key (did you mean "instance_id"?)`}},
		{"typo suggestion, swapped letters", `{"regoin": "us-east-2"}`,
			[]string{`t.json:1: regoin: unknown key (did you mean "region"?)`}},
		{"unknown nested key, suggestion", "{\n  \"iam\": {\"rol\": \"x\"}\n}",
			[]string{
				`t.json:2: iam.role: is missing: give the name of the instance profile's role, such as "role": "web"`,
				`t.json:2: iam.rol: unknown key (did you mean "role"?)`,
			}},
		{"unknown nested key, list of keys", "{\n  \"iam\": {\n    \"role\": \"web\",\n    \"colour\": \"x\"\n  }\n}",
			[]string{`t.json:4: iam.colour: unknown key: expected one of role, access_key_id, secret_access_key, token, instance_profile_arn, instance_profile_id, rotation, fault`}},
		{"unknown key with an odd name", `{"a b": {"c": [1, {"d": 2}]}}`,
			[]string{`t.json:1: ["a b"]: unknown key: remove it or correct its spelling`}},
		{"duplicate key", "{\n  \"region\": \"us-east-1\",\n  \"region\": \"us-east-2\"\n}",
			[]string{`t.json:3: region: duplicate key: already given on line 2; give each key once`}},
		{"duplicate nested key", "{\"tags\": {\n  \"a\": \"1\",\n  \"a\": \"2\"\n}}",
			[]string{`t.json:3: tags.a: duplicate key: already given on line 2; give each key once`}},

		// Types.
		{"string where int", `{"default_delay_ms": "100"}`,
			[]string{`t.json:1: default_delay_ms: expected a whole number, got a string ("100")`}},
		{"list where string", `{"hostname": ["a"]}`,
			[]string{`t.json:1: hostname: expected a string, got a list`}},
		{"object where string", `{"local_ipv4": {"a": "10.0.0.1"}}`,
			[]string{`t.json:1: local_ipv4: expected a string, got an object`}},
		{"boolean where string", `{"http_tokens": true}`,
			[]string{`t.json:1: http_tokens: expected a string, got a boolean (true)`}},
		{"null where string", `{"mac": null}`,
			[]string{`t.json:1: mac: expected a string, got null`}},
		{"string where list", `{"ssh_public_keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"}`,
			[]string{`t.json:1: ssh_public_keys: expected a list of strings such as ["ssh-ed25519 AAAAC3Nz... user@host"], got a string ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAB"...)`}},
		{"object where list", `{"security_groups": {"default": 1}}`,
			[]string{`t.json:1: security_groups: expected a list of strings such as ["default"], got an object`}},
		{"list where object", `{"force_status": [404]}`,
			[]string{`t.json:1: force_status: expected an object of whole numbers such as {"meta-data/instance-id": 503}, got a list`}},
		{"string where object", `{"iam": "web"}`,
			[]string{`t.json:1: iam: expected an object such as {"role": "web"}, got a string ("web")`}},
		{"nested: number where string", `{"iam": {"role": 7}}`,
			[]string{`t.json:1: iam.role: expected a string, got a number (7)`}},
		{"nested: list entry", "{\"ssh_public_keys\": [\n  \"ssh-ed25519 AAAA a\",\n  1\n]}",
			[]string{`t.json:3: ssh_public_keys[1]: expected a string, got a number (1)`}},
		{"nested: map value", `{"endpoint_delay_ms": {"meta-data/ami-id": "5"}}`,
			[]string{`t.json:1: endpoint_delay_ms["meta-data/ami-id"]: expected a whole number, got a string ("5")`}},
		{"nested: tag value", `{"tags": {"Name": ["web"]}}`,
			[]string{`t.json:1: tags.Name: expected a string, got a list`}},
		{"fraction", `{"default_delay_ms": 1.5}`,
			[]string{`t.json:1: default_delay_ms: expected a whole number, got 1.5`}},
		{"exponent", `{"default_delay_ms": 1e3}`,
			[]string{`t.json:1: default_delay_ms: expected a whole number, got 1e3`}},
		{"integer beyond int64", `{"default_delay_ms": 99999999999999999999}`,
			[]string{`t.json:1: default_delay_ms: 99999999999999999999 is out of range: expected 0 to 600000 milliseconds`}},
		{"status beyond int64", `{"force_status": {"user-data": -99999999999999999999}}`,
			[]string{`t.json:1: force_status.user-data: -99999999999999999999 is out of range: expected a status from 200 to 599, such as 404 or 503`}},

		// Not JSON, or not one object.
		{"missing comma", "{\n  \"region\": \"us-east-2\"\n  \"mac\": \"02:00:00:00:00:01\"\n}",
			[]string{`t.json:3: invalid JSON: invalid character '"' after object key:value pair (is a comma missing before it?)`}},
		{"trailing comma", "{\n  \"region\": \"us-east-2\",\n}",
			[]string{`t.json:2: invalid JSON: comma after the last entry: JSON allows no comma before '}'`}},
		{"trailing comma in list", "{\"security_groups\": [\n  \"default\",\n]}",
			[]string{`t.json:2: invalid JSON: comma after the last entry: JSON allows no comma before ']'`}},
		{"single quotes", "{\n  'region': 'us-east-2'\n}",
			[]string{`t.json:2: invalid JSON: invalid character '\'' (JSON strings and keys take double quotes: "...")`}},
		{"unquoted key", "{\n  region: \"us-east-2\"\n}",
			[]string{`t.json:2: invalid JSON: invalid character 'r' (JSON keys take double quotes: "key": value)`}},
		{"unquoted second key", "{\"mac\": \"02:00:00:00:00:01\",\n  region: \"us-east-2\"\n}",
			[]string{`t.json:2: invalid JSON: invalid character 'r' looking for beginning of object key string (JSON keys take double quotes: "key": value)`}},
		{"missing colon", "{\n  \"region\" \"us-east-2\"\n}",
			[]string{`t.json:2: invalid JSON: invalid character '"' after object key (expected a colon: "key": value)`}},
		{"line break in string", "{\n  \"user_data\": \"a\nb\"\n}",
			[]string{`t.json:2: invalid JSON: invalid character '\n' in string literal`}},
		{"bad literal", "{\n  \"iam\": nul\n}",
			[]string{`t.json:2: invalid JSON: invalid character '\n' in literal null (expecting 'l')`}},
		{"end of file", "{\n  \"region\": \"us-east-2\",\n  \"tags\": {\"a\": \"b\"\n",
			[]string{`t.json:3: invalid JSON: the file ends early: a closing brace, bracket or quote is missing`}},
		{"errors before a syntax error are kept", "{\n  \"colour\": 1,\n  \"region\": \"us-east-2\"\n  \"mac\": \"x\"\n}",
			[]string{
				`t.json:2: colour: unknown key: remove it or correct its spelling`,
				`t.json:4: invalid JSON: invalid character '"' after object key:value pair (is a comma missing before it?)`,
			}},
		{"trailing garbage", "{\n  \"region\": \"us-east-2\"\n}\n\n  garbage\n",
			[]string{`t.json:5: invalid JSON: text after the closing brace of the configuration; the file must hold one JSON object`}},
		{"two objects", "{}\n{}",
			[]string{`t.json:2: invalid JSON: text after the closing brace of the configuration; the file must hold one JSON object`}},
		{"top level list", "\n[{\"region\": \"us-east-2\"}]",
			[]string{`t.json:2: the configuration must be a JSON object, {...}, not a list`}},
		{"top level string", `"us-east-2"`,
			[]string{`t.json:1: the configuration must be a JSON object, {...}, not a string`}},
		{"top level number", `42`,
			[]string{`t.json:1: the configuration must be a JSON object, {...}, not a number`}},
		{"not JSON", "root:x:0:0:root:/root:/bin/sh\n",
			[]string{`t.json:1: the configuration must be a JSON object, {...}, not text that is not JSON`}},
		{"top level null", `null`,
			[]string{`t.json:1: the configuration must be a JSON object, {...}, not null`}},
		{"empty file", "",
			[]string{`t.json: the file is empty: expected a JSON object such as {"instance_id": "i-0123456789abcdef0"}`}},
		{"only comments", "# a comment\n  // another\n\n",
			[]string{`t.json: the file is empty: expected a JSON object such as {"instance_id": "i-0123456789abcdef0"}`}},

		// Seed keys.
		{"instance id", `{"instance_id": "instance-1"}`,
			[]string{`t.json:1: instance_id: "instance-1" is not an instance id: expected "i-" followed by letters or digits, such as i-0123456789abcdef0`}},
		{"host name", `{"hostname": "bad_host"}`,
			[]string{`t.json:1: hostname: "bad_host" is not a host name: expected labels of letters, digits and hyphens joined by dots, such as ip-10-0-0-10.ec2.internal`}},
		{"local host name", `{"local_hostname": "-a.example"}`,
			[]string{`t.json:1: local_hostname: "-a.example" is not a host name: expected labels of letters, digits and hyphens joined by dots, such as ip-10-0-0-10.ec2.internal`}},
		{"public host name", `{"public_ipv4": "203.0.113.1", "public_hostname": "a..b"}`,
			[]string{`t.json:1: public_hostname: "a..b" is not a host name: expected labels of letters, digits and hyphens joined by dots, such as ip-10-0-0-10.ec2.internal`}},
		{"local_ipv4 out of range", `{"local_ipv4": "10.0.0.300"}`,
			[]string{`t.json:1: local_ipv4: "10.0.0.300" is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10`}},
		{"local_ipv4 short", `{"local_ipv4": "10.0.1"}`,
			[]string{`t.json:1: local_ipv4: "10.0.1" is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10`}},
		{"local_ipv4 blank", `{"local_ipv4": "10.0.0.1 "}`,
			[]string{`t.json:1: local_ipv4: "10.0.0.1 " is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10`}},
		{"local_ipv4 IPv6", `{"local_ipv4": "fd00::1"}`,
			[]string{`t.json:1: local_ipv4: "fd00::1" is an IPv6 address: expected an IPv4 address, such as 10.0.0.10`}},
		{"public_ipv4", `{"public_ipv4": "203.0.113"}`,
			[]string{`t.json:1: public_ipv4: "203.0.113" is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10`}},
		{"public_ipv4 mapped", `{"public_ipv4": "::ffff:203.0.113.1"}`,
			[]string{`t.json:1: public_ipv4: "::ffff:203.0.113.1" is an IPv6 address: expected an IPv4 address, such as 10.0.0.10`}},
		{"mac short", `{"mac": "02:00:00:00:00"}`,
			[]string{`t.json:1: mac: "02:00:00:00:00" is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01`}},
		{"mac not hex", `{"mac": "02:00:00:00:00:0g"}`,
			[]string{`t.json:1: mac: "02:00:00:00:00:0g" is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01`}},
		{"mac eight bytes", `{"mac": "02:00:00:00:00:01:02:03"}`,
			[]string{`t.json:1: mac: "02:00:00:00:00:01:02:03" is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01`}},
		{"account id", `{"account_id": "1234"}`,
			[]string{`t.json:1: account_id: "1234" is not an AWS account id: expected 12 digits, such as 123456789012`}},
		{"region", `{"region": "Antarctica"}`,
			[]string{`t.json:1: region: "Antarctica" is not a region name: expected lowercase words and a number joined by hyphens, such as us-east-2`}},
		{"availability zone", `{"availability_zone": "US-EAST-2B"}`,
			[]string{`t.json:1: availability_zone: "US-EAST-2B" is not an availability zone name: expected the region followed by a letter, such as us-east-2b`}},
		{"instance type", `{"instance_type": "t3 micro"}`,
			[]string{`t.json:1: instance_type: "t3 micro" is not an instance type: expected a family, a dot and a size, such as t3.micro`}},
		{"architecture", `{"architecture": "sparc"}`,
			[]string{`t.json:1: architecture: "sparc" is not one of EC2's names: expected x86_64, arm64 or i386`}},
		{"architecture, other name", `{"architecture": "aarch64"}`,
			[]string{`t.json:1: architecture: "aarch64" is not one of EC2's names: expected x86_64, arm64 or i386 (aarch64 is arm64, amd64 is x86_64)`}},
		{"ssh key, one field", `{"ssh_public_keys": ["AAAAC3NzaC1lZDI1NTE5"]}`,
			[]string{`t.json:1: ssh_public_keys[0]: "AAAAC3NzaC1lZDI1NTE5" is not an OpenSSH public key: expected "TYPE BASE64 [COMMENT]" as in a .pub file, such as "ssh-ed25519 AAAAC3Nz... user@host"`}},
		{"ssh key, empty", `{"ssh_public_keys": [""]}`,
			[]string{`t.json:1: ssh_public_keys[0]: "" is not an OpenSSH public key: expected "TYPE BASE64 [COMMENT]" as in a .pub file, such as "ssh-ed25519 AAAAC3Nz... user@host"`}},
		{"ssh key, type", `{"ssh_public_keys": ["ssh-foo AAAA me"]}`,
			[]string{`t.json:1: ssh_public_keys[0]: "ssh-foo" is not an OpenSSH key type: expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 or another type sshd accepts, first on the line`}},
		{"ssh key, options", `{"ssh_public_keys": ["no-pty ssh-ed25519 AAAA me"]}`,
			[]string{`t.json:1: ssh_public_keys[0]: "no-pty" is not an OpenSSH key type: expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 or another type sshd accepts, first on the line`}},
		{"ssh key, blob", "{\"ssh_public_keys\": [\n  \"ssh-ed25519 AAAA me\",\n  \"ssh-ed25519 AAA$A me\"\n]}",
			[]string{`t.json:3: ssh_public_keys[1]: the key data (the second field) is not base64: expected only A-Z a-z 0-9 + / and = padding`}},
		{"ssh key, blob of another type", `{"ssh_public_keys": ["ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f me"]}`,
			[]string{`t.json:1: ssh_public_keys[0]: the key data holds a "ssh-ed25519" key but the line says "ssh-rsa"; sshd will not accept it`}},
		{"ssh key, two lines", `{"ssh_public_keys": ["ssh-ed25519 AAAA a\nssh-ed25519 BBBB b"]}`,
			[]string{`t.json:1: ssh_public_keys[0]: has more than one line: give one OpenSSH public key per list entry`}},
		{"ssh key, carriage return", `{"ssh_public_keys": ["ssh-ed25519 AAAA a\rb"]}`,
			[]string{`t.json:1: ssh_public_keys[0]: has more than one line: give one OpenSSH public key per list entry`}},

		// User-data.
		{"user_data too large", `{"user_data": ` + jsonString(t, strings.Repeat("a", MaxUserData+1)) + `}`,
			[]string{`t.json:1: user_data: is 16385 bytes: EC2 allows at most 16384 bytes (16 KiB) of user-data`}},
		{"user_data too large in UTF-8", `{"user_data": ` + jsonString(t, strings.Repeat("a", MaxUserData-1)+"é") + `}`,
			[]string{`t.json:1: user_data: is 16385 bytes: EC2 allows at most 16384 bytes (16 KiB) of user-data`}},
		{"user_data_base64 too large", `{"user_data_base64": "` + b64(make([]byte, MaxUserData+1)) + `"}`,
			[]string{`t.json:1: user_data_base64: is 16385 bytes after decoding: EC2 allows at most 16384 bytes (16 KiB) of user-data`}},
		{"user_data and user_data_base64", "{\n  \"user_data\": \"a\",\n  \"user_data_base64\": \"YQ==\"\n}",
			[]string{`t.json:3: user_data_base64: cannot be given with user_data: give the user-data once, as text in user_data or as base64 here`}},
		{"invalid base64", `{"user_data_base64": "aGVs bG8*"}`,
			[]string{`t.json:1: user_data_base64: is not valid base64: bad data at character 8 (blanks not counted); expected standard base64: A-Z a-z 0-9 + / and = padding`}},
		{"unpadded base64", `{"user_data_base64": "YQ"}`,
			[]string{`t.json:1: user_data_base64: is not valid base64: bad data at character 1 (blanks not counted); expected standard base64: A-Z a-z 0-9 + / and = padding`}},
		{"URL-safe base64", `{"user_data_base64": "-_-_"}`,
			[]string{`t.json:1: user_data_base64: is not valid base64: bad data at character 1 (blanks not counted); expected standard base64: A-Z a-z 0-9 + / and = padding`}},

		// Fault injection.
		{"negative default delay", `{"default_delay_ms": -1}`,
			[]string{`t.json:1: default_delay_ms: -1 is out of range: expected 0 to 600000 milliseconds`}},
		{"huge default delay", `{"default_delay_ms": 600001}`,
			[]string{`t.json:1: default_delay_ms: 600001 is out of range: expected 0 to 600000 milliseconds`}},
		{"negative endpoint delay", `{"endpoint_delay_ms": {"meta-data/ami-id": -5}}`,
			[]string{`t.json:1: endpoint_delay_ms["meta-data/ami-id"]: -5 is out of range: expected 0 to 600000 milliseconds`}},
		{"huge endpoint delay", `{"endpoint_delay_ms": {"user-data": 86400000}}`,
			[]string{`t.json:1: endpoint_delay_ms.user-data: 86400000 is out of range: expected 0 to 600000 milliseconds`}},
		{"status 99", `{"force_status": {"meta-data/mac": 99}}`,
			[]string{`t.json:1: force_status["meta-data/mac"]: 99 is not an HTTP status code: expected a status from 200 to 599, such as 404 or 503`}},
		{"status 600", `{"force_status": {"meta-data/mac": 600}}`,
			[]string{`t.json:1: force_status["meta-data/mac"]: 600 is not an HTTP status code: expected a status from 200 to 599, such as 404 or 503`}},
		{"status 1000", `{"force_status": {"meta-data/mac": 1000}}`,
			[]string{`t.json:1: force_status["meta-data/mac"]: 1000 is not an HTTP status code: expected a status from 200 to 599, such as 404 or 503`}},
		{"status 0", `{"force_status": {"meta-data/mac": 0}}`,
			[]string{`t.json:1: force_status["meta-data/mac"]: 0 is not an HTTP status code: expected a status from 200 to 599, such as 404 or 503`}},
		{"status with no name", `{"force_status": {"meta-data/mac": 299}}`,
			[]string{`t.json:1: force_status["meta-data/mac"]: 299 is not an HTTP status code: expected a status from 200 to 599, such as 404 or 503`}},
		{"fault path empty", `{"force_status": {"": 404}}`,
			[]string{`t.json:1: force_status[""]: names no path: expected one such as meta-data/instance-id, user-data or api/token`}},
		{"fault path slashes", `{"endpoint_delay_ms": {"//": 5}}`,
			[]string{`t.json:1: endpoint_delay_ms["//"]: names no path: expected one such as meta-data/instance-id, user-data or api/token`}},
		{"fault paths meaning the same", "{\"force_status\": {\n  \"meta-data/instance-id\": 404,\n  \"/latest/meta-data/instance-id/\": 500,\n  \"2021-03-23/meta-data/instance-id\": 503\n}}",
			[]string{
				`t.json:3: force_status["/latest/meta-data/instance-id/"]: names the same path as "meta-data/instance-id" on line 2 (both mean meta-data/instance-id); give each path once`,
				`t.json:4: force_status["2021-03-23/meta-data/instance-id"]: names the same path as "meta-data/instance-id" on line 2 (both mean meta-data/instance-id); give each path once`,
			}},
		{"version listings meaning the same", `{"endpoint_delay_ms": {"/latest/": 5, "2021-03-23": 6}}`,
			[]string{`t.json:1: endpoint_delay_ms.2021-03-23: names the same path as "/latest/" on line 1 (both mean the version's own listing, such as /latest/); give each path once`}},
		{"delay paths meaning the same", "{\"endpoint_delay_ms\": {\n  \"/latest/api/token\": 1,\n  \"api//token\": 2\n}}",
			[]string{`t.json:3: endpoint_delay_ms["api//token"]: names the same path as "/latest/api/token" on line 2 (both mean api/token); give each path once`}},

		// Keys beyond the seed.
		{"ami id", `{"ami_id": "vpc-123"}`,
			[]string{`t.json:1: ami_id: "vpc-123" is not an AMI id: expected "ami-" followed by letters or digits, such as ami-0123456789abcdef0`}},
		{"reservation id", `{"reservation_id": "r-"}`,
			[]string{`t.json:1: reservation_id: "r-" is not a reservation id: expected "r-" followed by letters or digits, such as r-0123456789abcdef0`}},
		{"interface id", `{"interface_id": "eni_1"}`,
			[]string{`t.json:1: interface_id: "eni_1" is not a network interface id: expected "eni-" followed by letters or digits, such as eni-0123456789abcdef0`}},
		{"subnet id", `{"subnet_id": "subnet-a b"}`,
			[]string{`t.json:1: subnet_id: "subnet-a b" is not a subnet id: expected "subnet-" followed by letters or digits, such as subnet-0123456789abcdef0`}},
		{"vpc id", `{"vpc_id": "vpc"}`,
			[]string{`t.json:1: vpc_id: "vpc" is not a VPC id: expected "vpc-" followed by letters or digits, such as vpc-0123456789abcdef0`}},
		{"zone id", `{"availability_zone_id": "use2az2"}`,
			[]string{`t.json:1: availability_zone_id: "use2az2" is not an availability zone id: expected a short region code, "-az" and a number, such as use2-az2`}},
		{"security group name", `{"security_groups": ["default", " "]}`,
			[]string{
				`t.json:1: security_groups[1]: is empty: expected a security group name, such as default`,
			}},
		{"security group name on two lines", `{"security_groups": ["a\nb"], "security_group_ids": ["sg-1"]}`,
			[]string{`t.json:1: security_groups[0]: "a\nb" has more than one line: expected a security group name, such as default`}},
		{"security group id", `{"security_group_ids": ["x"]}`,
			[]string{`t.json:1: security_group_ids[0]: "x" is not a security group id: expected "sg-" followed by letters or digits, such as sg-0123456789abcdef0`}},
		{"security group ids, count", `{"security_groups": ["a", "b"], "security_group_ids": ["sg-1"]}`,
			[]string{`t.json:1: security_group_ids: lists 1 id for 2 security groups; give one id per group, in the same order`}},
		{"security group ids, count with the default group", `{"security_group_ids": ["sg-1", "sg-2"]}`,
			[]string{`t.json:1: security_group_ids: lists 2 ids for 1 security group (security_groups is left out, so it is ["default"]); give one id per group, in the same order`}},
		{"CIDR prefix length", `{"subnet_ipv4_cidr_block": "10.0.0.0/33"}`,
			[]string{`t.json:1: subnet_ipv4_cidr_block: "10.0.0.0/33" is not an IPv4 network: expected an address, a slash and a prefix length, such as 10.0.0.0/24`}},
		{"CIDR without length", `{"vpc_ipv4_cidr_block": "10.0.0.0"}`,
			[]string{`t.json:1: vpc_ipv4_cidr_block: "10.0.0.0" is not an IPv4 network: expected an address, a slash and a prefix length, such as 10.0.0.0/24`}},
		{"CIDR IPv6", `{"vpc_ipv4_cidr_block": "fd00::/8"}`,
			[]string{`t.json:1: vpc_ipv4_cidr_block: "fd00::/8" is not an IPv4 network: expected an address, a slash and a prefix length, such as 10.0.0.0/24`}},
		{"CIDR host bits", `{"subnet_ipv4_cidr_block": "10.0.0.5/24"}`,
			[]string{`t.json:1: subnet_ipv4_cidr_block: "10.0.0.5/24" has address bits set beyond the prefix length: expected 10.0.0.0/24`}},
		{"tag key with a space", `{"tags": {"bad key": "x"}}`,
			[]string{`t.json:1: tags["bad key"]: is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not ".", ".." or "_index")`}},
		{"tag key with a slash", `{"tags": {"a/b": "x"}}`,
			[]string{`t.json:1: tags["a/b"]: is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not ".", ".." or "_index")`}},
		{"tag key _index", `{"tags": {"_index": "x"}}`,
			[]string{`t.json:1: tags._index: is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not ".", ".." or "_index")`}},
		{"tag key ..", `{"tags": {"..": "x"}}`,
			[]string{`t.json:1: tags[".."]: is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not ".", ".." or "_index")`}},
		{"tag key too long", `{"tags": {"` + strings.Repeat("k", 129) + `": "x"}}`,
			[]string{`t.json:1: tags.` + strings.Repeat("k", 129) + `: is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not ".", ".." or "_index")`}},
		{"iam role", `{"iam": {"role": "web role"}}`,
			[]string{`t.json:1: iam.role: "web role" is not an IAM role name: expected 1 to 64 of letters, digits and + = , . @ _ -`}},
		{"iam role too long", `{"iam": {"role": "` + strings.Repeat("r", 65) + `"}}`,
			[]string{`t.json:1: iam.role: "` + strings.Repeat("r", 40) + `"... is not an IAM role name: expected 1 to 64 of letters, digits and + = , . @ _ -`}},
		{"iam role empty", `{"iam": {"role": ""}}`,
			[]string{`t.json:1: iam.role: is empty: give the name of the instance profile's role, such as "role": "web"`}},
		{"iam role missing", "{\n  \"iam\": {}\n}",
			[]string{`t.json:2: iam.role: is missing: give the name of the instance profile's role, such as "role": "web"`}},
		{"iam arn", `{"iam": {"role": "web", "instance_profile_arn": "web"}}`,
			[]string{`t.json:1: iam.instance_profile_arn: "web" is not an instance profile ARN: expected one such as arn:aws:iam::123456789012:instance-profile/web`}},
		{"iam credentials", `{"iam": {"role": "web", "access_key_id": "a b", "secret_access_key": "a\"b", "token": "a\\b", "instance_profile_id": "a\n"}}`,
			[]string{
				`t.json:1: iam.access_key_id: must not contain blanks, quotes or backslashes: clients read it from a JSON document`,
				`t.json:1: iam.secret_access_key: must not contain blanks, quotes or backslashes: clients read it from a JSON document`,
				`t.json:1: iam.token: must not contain blanks, quotes or backslashes: clients read it from a JSON document`,
				`t.json:1: iam.instance_profile_id: must not contain blanks, quotes or backslashes: clients read it from a JSON document`,
			}},
		{"http_tokens", `{"http_tokens": "maybe"}`,
			[]string{`t.json:1: http_tokens: "maybe" is not a valid value: expected "required" or "optional"`}},
		{"http_tokens case", `{"http_tokens": "Required"}`,
			[]string{`t.json:1: http_tokens: "Required" is not a valid value: expected "required" or "optional"`}},
		{"http_endpoint", `{"http_endpoint": "on"}`,
			[]string{`t.json:1: http_endpoint: "on" is not a valid value: expected "enabled" or "disabled"`}},

		// No second message about what is derived from a bad value.
		{"nothing derived from a bad address", `{"local_ipv4": "x"}`,
			[]string{`t.json:1: local_ipv4: "x" is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10`}},
		{"nothing derived from a bad region", `{"region": "x", "public_ipv4": "203.0.113.1"}`,
			[]string{`t.json:1: region: "x" is not a region name: expected lowercase words and a number joined by hyphens, such as us-east-2`}},
		{"nothing derived from a bad zone", `{"availability_zone": "X"}`,
			[]string{`t.json:1: availability_zone: "X" is not an availability zone name: expected the region followed by a letter, such as us-east-2b`}},
		{"nothing derived from a bad host name", `{"hostname": "a b"}`,
			[]string{`t.json:1: hostname: "a b" is not a host name: expected labels of letters, digits and hyphens joined by dots, such as ip-10-0-0-10.ec2.internal`}},
		{"nothing derived from a bad role", `{"iam": {"role": "a b"}}`,
			[]string{`t.json:1: iam.role: "a b" is not an IAM role name: expected 1 to 64 of letters, digits and + = , . @ _ -`}},
		{"nothing derived from a bad account", `{"account_id": "x", "iam": {"role": "web"}}`,
			[]string{`t.json:1: account_id: "x" is not an AWS account id: expected 12 digits, such as 123456789012`}},
		{"nothing said twice about a duplicate", "{\n  \"mac\": \"x\",\n  \"mac\": \"y\"\n}",
			[]string{`t.json:3: mac: duplicate key: already given on line 2; give each key once`}},
		{"nothing more about a value of the wrong type", `{"security_groups": "web", "security_group_ids": ["sg-1", "sg-2"]}`,
			[]string{`t.json:1: security_groups: expected a list of strings such as ["default"], got a string ("web")`}},
		{"no comparison with a value of the wrong type", `{"local_ipv4": 5, "subnet_ipv4_cidr_block": "10.9.0.0/24", "vpc_ipv4_cidr_block": "10.8.0.0/16"}`,
			[]string{`t.json:1: local_ipv4: expected a string, got a number (5)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, _ := parseMessages(t, tt.src)
			sameLines(t, "errors", errs, tt.errs)
		})
	}
}

// TestWarnings checks the values that load but that real clients trip on.
func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		warns []string
	}{
		{"zone outside the region", "{\n  \"region\": \"us-west-2\",\n  \"availability_zone\": \"us-east-1a\"\n}",
			[]string{`t.json:3: availability_zone: "us-east-1a" does not start with region "us-west-2"; clients that derive the region from the zone (botocore, aws-sdk-go v1) will see region "us-east-1"`}},
		{"instance id not hex", `{"instance_id": "i-ABCDEF0123456789A"}`,
			[]string{`t.json:1: instance_id: "i-ABCDEF0123456789A" is not shaped like an EC2 instance id ("i-" and 17 lowercase hex digits, such as i-0123456789abcdef0); tools that check the format, such as vuls, reject it`}},
		{"instance id of another length", `{"instance_id": "i-1234567890"}`,
			[]string{`t.json:1: instance_id: "i-1234567890" is not shaped like an EC2 instance id ("i-" and 8 or 17 lowercase hex digits, such as i-0123456789abcdef0); clients that check the length may reject it`}},
		{"public host name without address", `{"public_hostname": "web.example.org"}`,
			[]string{`t.json:1: public_hostname: is set but public_ipv4 is not; EC2 serves a public host name only with a public address, so it is not served`}},
		{"subnet without the address", `{"local_ipv4": "10.1.2.3", "subnet_ipv4_cidr_block": "10.9.0.0/24"}`,
			[]string{`t.json:1: subnet_ipv4_cidr_block: 10.9.0.0/24 does not contain local_ipv4 10.1.2.3; clients that check the address against the subnet will be confused`}},
		{"vpc without the subnet", `{"local_ipv4": "10.1.2.3", "vpc_ipv4_cidr_block": "10.2.0.0/16"}`,
			[]string{`t.json:1: vpc_ipv4_cidr_block: 10.2.0.0/16 does not contain subnet_ipv4_cidr_block 10.1.2.0/24`}},
		{"vpc smaller than the subnet", `{"local_ipv4": "10.1.2.3", "subnet_ipv4_cidr_block": "10.1.0.0/16", "vpc_ipv4_cidr_block": "10.1.2.0/24"}`,
			[]string{`t.json:1: vpc_ipv4_cidr_block: 10.1.2.0/24 does not contain subnet_ipv4_cidr_block 10.1.0.0/16`}},
		{"fault path that matches nothing", `{"force_status": {"latest/metadata/ami-id": 404}}`,
			[]string{`t.json:1: force_status["latest/metadata/ami-id"]: matches no request: the paths imdsd serves start with meta-data, dynamic or user-data, or are api/token`}},
		{"several, in file order", "{\n  \"public_hostname\": \"web.example.org\",\n  \"availability_zone\": \"eu-west-1a\",\n  \"instance_id\": \"i-12345678901\",\n  \"region\": \"us-east-2\"\n}",
			[]string{
				`t.json:2: public_hostname: is set but public_ipv4 is not; EC2 serves a public host name only with a public address, so it is not served`,
				`t.json:3: availability_zone: "eu-west-1a" does not start with region "us-east-2"; clients that derive the region from the zone (botocore, aws-sdk-go v1) will see region "eu-west-1"`,
				`t.json:4: instance_id: "i-12345678901" is not shaped like an EC2 instance id ("i-" and 8 or 17 lowercase hex digits, such as i-0123456789abcdef0); clients that check the length may reject it`,
			}},
		// What the file does not give is not warned about.
		{"none for the default instance id", `{}`, nil},
		{"none for a zone derived from the region", `{"region": "eu-west-1"}`, nil},
		{"none for a region derived from the zone", `{"availability_zone": "eu-west-1c"}`, nil},
		{"none for EC2-shaped ids", `{"instance_id": "i-0123abcd"}`, nil},
		{"none for a version listing", `{"endpoint_delay_ms": {"/latest/": 5, "user-data": 1, "dynamic/": 1}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, warns := parseMessages(t, tt.src)
			sameLines(t, "errors", errs, nil)
			sameLines(t, "warnings", warns, tt.warns)
		})
	}
}

// TestWarningsWithErrors checks that warnings come back with errors too,
// and not about a key that is in error or compared with one.
func TestWarningsWithErrors(t *testing.T) {
	for _, src := range []string{
		`{"local_ipv4": 5, "subnet_ipv4_cidr_block": "10.9.0.0/24"}`,
		`{"local_ipv4": 5, "vpc_ipv4_cidr_block": "10.9.0.0/16"}`,
		`{"subnet_ipv4_cidr_block": 5, "vpc_ipv4_cidr_block": "10.9.0.0/16"}`,
		`{"public_ipv4": [], "public_hostname": "web.example.org"}`,
		`{"region": 1, "availability_zone": "eu-west-1a"}`,
		`{"instance_id": "i-12", "instance_id": "i-13"}`,
	} {
		errs, warns := parseMessages(t, src)
		if len(errs) != 1 || len(warns) != 0 {
			t.Errorf("%s:\nerrors %q\nwarnings %q\nwant one error and no warning", src, errs, warns)
		}
	}

	// A comparison of two given values stands.
	_, warns := parseMessages(t, `{"local_ipv4": 5, "subnet_ipv4_cidr_block": "10.9.0.0/24", "vpc_ipv4_cidr_block": "10.8.0.0/16"}`)
	sameLines(t, "warnings", warns, []string{`t.json:1: vpc_ipv4_cidr_block: 10.8.0.0/16 does not contain subnet_ipv4_cidr_block 10.9.0.0/24`})

	src := "{\n  \"instance_id\": \"i-12\",\n  \"mac\": \"x\",\n  \"availability_zone\": 5\n}"
	errs, warns := parseMessages(t, src)
	sameLines(t, "errors", errs, []string{
		`t.json:3: mac: "x" is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01`,
		`t.json:4: availability_zone: expected a string, got a number (5)`,
	})
	sameLines(t, "warnings", warns, []string{
		`t.json:2: instance_id: "i-12" is not shaped like an EC2 instance id ("i-" and 8 or 17 lowercase hex digits, such as i-0123456789abcdef0); clients that check the length may reject it`,
	})
}

// TestManyErrors checks that every problem is reported at once, from all
// three steps (decode, provision, validate), in line order.
func TestManyErrors(t *testing.T) {
	src := `{
  "http_tokens": "maybe",
  "force_status": {
    "meta-data/ami-id": 404,
    "/latest/meta-data/ami-id": 404
  },
  "colour": "blue",
  "local_ipv4": "10.0.0.256",
  "default_delay_ms": "5",
  "tags": {"b c": "x", "a b": "y"},
  "region": "us-east-2",
  "region": "us-east-3"
}`
	errs, _ := parseMessages(t, src)
	sameLines(t, "errors", errs, []string{
		`t.json:2: http_tokens: "maybe" is not a valid value: expected "required" or "optional"`,
		`t.json:5: force_status["/latest/meta-data/ami-id"]: names the same path as "meta-data/ami-id" on line 4 (both mean meta-data/ami-id); give each path once`,
		`t.json:7: colour: unknown key: remove it or correct its spelling`,
		`t.json:8: local_ipv4: "10.0.0.256" is not an IPv4 address: expected four numbers from 0 to 255 joined by dots, such as 10.0.0.10`,
		`t.json:9: default_delay_ms: expected a whole number, got a string ("5")`,
		`t.json:10: tags["b c"]: is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not ".", ".." or "_index")`,
		`t.json:10: tags["a b"]: is not a tag key EC2 serves in metadata: expected 1 to 128 of a-z A-Z 0-9 + - = . _ : @ , (no spaces or slashes; not ".", ".." or "_index")`,
		`t.json:12: region: duplicate key: already given on line 11; give each key once`,
	})
}

// TestDeterministic parses inputs whose maps Go iterates in random order
// many times over: the outcome must never change.
func TestDeterministic(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"force_status": {`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		// Pairs of keys meaning the same path, and statuses out of range.
		b.WriteString(`"meta-data/k` + string(rune('a'+i)) + `": 404, "/latest/meta-data/k` + string(rune('a'+i)) + `/": 1`)
	}
	b.WriteString(`}, "tags": {`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"bad ` + string(rune('a'+i)) + `": "x"`)
	}
	b.WriteString(`}, "endpoint_delay_ms": {"x/1": 1, "x/2": 2, "x/3": 3}}`)
	inputs := []string{b.String()}
	for _, f := range []string{"errors.json", "full.json", "faults.json", "warnings.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(data))
	}
	for i, in := range inputs {
		first := outcome("t.json", []byte(in))
		for n := 0; n < 30; n++ {
			if got := outcome("t.json", []byte(in)); got != first {
				t.Fatalf("input %d: parse %d differs from the first:\n%s", i, n+2, golden.Diff(first, got))
			}
		}
	}
}

// TestSeedAccepted checks that the original README's example loads
// unchanged, every key included, and that testdata/seed.json is that
// example.
func TestSeedAccepted(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Parse("seed.json", seed)
	if err != nil {
		t.Fatalf("the seed does not load: %v", err)
	}
	want := map[string]string{
		"InstanceID": "i-1234567890", "Hostname": "test-vm", "PublicHostname": "192.168.199.199",
		"LocalHostname": "test-vm", "LocalIPv4": "10.0.0.10", "PublicIPv4": "192.168.199.199",
		"MAC": "02:00:00:00:00:01", "AccountID": "123456789012", "Region": "antarctica-1",
		"AvailabilityZone": "antarc-north-1z", "InstanceType": "a1.pinguin", "Architecture": "x86_64",
	}
	got := map[string]string{
		"InstanceID": c.InstanceID, "Hostname": c.Hostname, "PublicHostname": c.PublicHostname,
		"LocalHostname": c.LocalHostname, "LocalIPv4": c.LocalIPv4, "PublicIPv4": c.PublicIPv4,
		"MAC": c.MAC, "AccountID": c.AccountID, "Region": c.Region,
		"AvailabilityZone": c.AvailabilityZone, "InstanceType": c.InstanceType, "Architecture": c.Architecture,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if len(c.SSHPublicKeys) != 2 || c.SSHPublicKeys[0] != "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDkey1" ||
		c.SSHPublicKeys[1] != "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey2" {
		t.Errorf("SSHPublicKeys = %q", c.SSHPublicKeys)
	}
	if ud := string(c.UserDataBytes()); !strings.HasPrefix(ud, "#cloud-config\nhostname: test-vm\n") ||
		!strings.HasSuffix(ud, "Zpublickey connect") || len(ud) != 222 {
		t.Errorf("user-data = %q", ud)
	}
	if c.DefaultDelayMS != 0 || len(c.EndpointDelayMS) != 0 || len(c.ForceStatus) != 0 || hasFaults(&c.Instance) {
		t.Errorf("the seed has faults: %d %v %v", c.DefaultDelayMS, c.EndpointDelayMS, c.ForceStatus)
	}
}

// TestDefault proves that the built-in default loads (so Default never
// panics) with no warning, that Load("") is it, and that each call gives a
// configuration of its own.
func TestDefault(t *testing.T) {
	c, diags, err := Parse(DefaultName, DefaultJSON())
	if err != nil || len(diags) != 0 {
		t.Fatalf("the built-in default does not pass its own checks: %v %v", diags, err)
	}
	l, diags, err := Load("")
	if err != nil || len(diags) != 0 || l.InstanceID != c.InstanceID {
		t.Fatalf("Load(\"\") = %v, %v, %v", l, diags, err)
	}
	c = Default()
	if c == nil || c.InstanceID != "i-1234567890abcdef0" || c.Hostname != "test-vm" || len(c.PublicKeys()) != 2 {
		t.Fatalf("Default() = %+v", c)
	}
	c.InstanceID = "i-changed"
	c.SSHPublicKeys[0] = "changed"
	if d := Default(); d.InstanceID != "i-1234567890abcdef0" || d.SSHPublicKeys[0] == "changed" {
		t.Errorf("Default() shares state between calls")
	}
	j := DefaultJSON()
	j[0] = 'X'
	if DefaultJSON()[0] != '{' {
		t.Errorf("DefaultJSON() returns the embedded bytes, not a copy")
	}
	// The built-in default gives only what differs from the values of
	// keys left out: those are written once, in defaults.
	var f File
	if err := json.Unmarshal(DefaultJSON(), &f); err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct{ key, got, def string }{
		{"local_ipv4", f.LocalIPv4, defaults.LocalIPv4}, {"mac", f.MAC, defaults.MAC},
		{"account_id", f.AccountID, defaults.AccountID}, {"region", f.Region, defaults.Region},
		{"instance_type", f.InstanceType, defaults.InstanceType}, {"architecture", f.Architecture, defaults.Architecture},
	} {
		if k.got == k.def {
			t.Errorf("default.json repeats the default of %s, %q", k.key, k.def)
		}
	}
}

// TestComments checks that whole-line comments are blanked and that line
// numbers stay those of the file.
func TestComments(t *testing.T) {
	src := "# comment\n\t// comment with \"quotes\" and { braces\n{\n  # \"region\": \"commented out\",\n  \"mac\": \"x\",\n   // \"mac\": \"y\",\n  \"user_data\": \"# not a comment\\n// nor this\"\n}\n# the end"
	c, _, err := Parse("t.json", []byte(strings.Replace(src, `"x"`, `"02:00:00:00:00:09"`, 1)))
	if err != nil {
		t.Fatalf("comments not accepted: %v", err)
	}
	if got := string(c.UserDataBytes()); got != "# not a comment\n// nor this" {
		t.Errorf("user-data = %q", got)
	}
	if c.Region != "antarctica-1" {
		t.Errorf("a commented-out key was read: region %q", c.Region)
	}
	errs, _ := parseMessages(t, src)
	sameLines(t, "errors", errs, []string{
		`t.json:5: mac: "x" is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01`,
	})
	// A comment is a whole line: after a value it is a syntax error.
	errs, _ = parseMessages(t, "{\n  \"mac\": \"02:00:00:00:00:09\" # no\n}")
	sameLines(t, "errors", errs, []string{
		`t.json:2: invalid JSON: invalid character '#' after object key:value pair (is a comma missing before it?)`,
	})
	// CRLF line ends and a byte order mark.
	c, _, err = Parse("t.json", []byte("\xef\xbb\xbf# c\r\n{\r\n// c\r\n\"region\": \"us-east-2\"\r\n}\r\n"))
	if err != nil || c.Region != "us-east-2" {
		t.Errorf("CRLF and BOM: %v", err)
	}
}

func TestUserData(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name, src string
		want      []byte // nil: none
	}{
		{"none", `{}`, nil},
		{"null", `{"user_data": null}`, nil},
		{"text", `{"user_data": "#!/bin/sh\n"}`, []byte("#!/bin/sh\n")},
		{"empty text", `{"user_data": ""}`, []byte{}},
		{"exactly 16384 bytes", `{"user_data": "` + strings.Repeat("x", MaxUserData) + `"}`, []byte(strings.Repeat("x", MaxUserData))},
		{"base64 of 16384 binary bytes", `{"user_data_base64": "` + b64(make([]byte, MaxUserData)) + `"}`, make([]byte, MaxUserData)},
		{"base64 with line breaks and blanks", `{"user_data_base64": "H4sI\nAAAA \r\n AAAA"}`, []byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0}},
		{"base64 and null text", `{"user_data": null, "user_data_base64": "YQ=="}`, []byte("a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse("t.json", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			got := c.UserDataBytes()
			if (got == nil) != (tt.want == nil) || string(got) != string(tt.want) {
				t.Errorf("UserDataBytes() = %q (nil %t), want %q (nil %t)", trim(got), got == nil, trim(tt.want), tt.want == nil)
			}
		})
	}
}

func trim(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// TestDerived checks the values provisioning derives from what a file gives.
func TestDerived(t *testing.T) {
	get := func(t *testing.T, src string) *Config {
		t.Helper()
		c, _, err := Parse("t.json", []byte(src))
		if err != nil {
			t.Fatalf("Parse(%s): %v", src, err)
		}
		return c
	}
	check := func(t *testing.T, what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}

	t.Run("host names from local_ipv4", func(t *testing.T) {
		c := get(t, `{"local_ipv4": "172.31.44.13", "region": "us-east-2"}`)
		check(t, "hostname", c.Hostname, "ip-172-31-44-13.us-east-2.compute.internal")
		check(t, "local_hostname", c.LocalHostname, "ip-172-31-44-13.us-east-2.compute.internal")
		check(t, "public_hostname", c.PublicHostname, "")
		c = get(t, `{"local_ipv4": "10.1.2.3", "region": "us-east-1"}`)
		check(t, "hostname in us-east-1", c.Hostname, "ip-10-1-2-3.ec2.internal")
	})
	t.Run("one host name gives the other", func(t *testing.T) {
		c := get(t, `{"hostname": "web-1"}`)
		check(t, "local_hostname", c.LocalHostname, "web-1")
		c = get(t, `{"local_hostname": "web-2.example"}`)
		check(t, "hostname", c.Hostname, "web-2.example")
		c = get(t, `{"hostname": "a", "local_hostname": "b"}`)
		check(t, "hostname", c.Hostname, "a")
		check(t, "local_hostname", c.LocalHostname, "b")
		c = get(t, `{"hostname": ""}`)
		check(t, "empty hostname", c.Hostname, "ip-10-0-0-10.antarctica-1.compute.internal")
	})
	t.Run("public host name", func(t *testing.T) {
		for _, tt := range []struct{ region, want string }{
			{"us-east-1", "ec2-203-0-113-9.compute-1.amazonaws.com"},
			{"eu-west-1", "ec2-203-0-113-9.eu-west-1.compute.amazonaws.com"},
			{"cn-northwest-1", "ec2-203-0-113-9.cn-northwest-1.compute.amazonaws.com.cn"},
		} {
			c := get(t, `{"public_ipv4": "203.0.113.9", "region": "`+tt.region+`"}`)
			check(t, tt.region+" public_hostname", c.PublicHostname, tt.want)
		}
		c := get(t, `{"public_ipv4": "203.0.113.9", "public_hostname": "www.example.org"}`)
		check(t, "given public_hostname", c.PublicHostname, "www.example.org")
	})
	t.Run("region and zone", func(t *testing.T) {
		c := get(t, `{"availability_zone": "us-east-2b"}`)
		check(t, "region from zone", c.Region, "us-east-2")
		check(t, "zone id", c.AvailabilityZoneID, "use2-az2")
		c = get(t, `{"region": "ap-northeast-1"}`)
		check(t, "zone from region", c.AvailabilityZone, "ap-northeast-1a")
		check(t, "zone id", c.AvailabilityZoneID, "apne1-az1")
		c = get(t, `{}`)
		check(t, "default region", c.Region, "antarctica-1")
		check(t, "default zone", c.AvailabilityZone, "antarctica-1a")
		check(t, "default zone id", c.AvailabilityZoneID, "ant1-az1")
		c = get(t, `{"region": "us-gov-west-1", "availability_zone": "us-gov-west-1c"}`)
		check(t, "gov zone id", c.AvailabilityZoneID, "usgw1-az3")
		c = get(t, `{"region": "eu-central-1", "availability_zone": "somewhere-1b"}`)
		check(t, "zone id of a zone outside the region", c.AvailabilityZoneID, "euc1-az1")
		c = get(t, `{"availability_zone_id": "use1-az6"}`)
		check(t, "given zone id", c.AvailabilityZoneID, "use1-az6")
	})
	t.Run("seed defaults for seed keys", func(t *testing.T) {
		c := get(t, `{}`)
		for _, f := range []struct{ what, got, want string }{
			{"instance_id", c.InstanceID, "i-1234567890"},
			{"local_ipv4", c.LocalIPv4, "10.0.0.10"},
			{"mac", c.MAC, "02:00:00:00:00:01"},
			{"account_id", c.AccountID, "123456789012"},
			{"instance_type", c.InstanceType, "a1.pinguin"},
			{"architecture", c.Architecture, "x86_64"},
			{"public_ipv4", c.PublicIPv4, ""},
			{"http_tokens", c.HTTPTokens, "required"},
			{"http_endpoint", c.HTTPEndpoint, "enabled"},
			{"subnet_ipv4_cidr_block", c.SubnetIPv4CIDR, "10.0.0.0/24"},
			{"vpc_ipv4_cidr_block", c.VPCIPv4CIDR, "10.0.0.0/16"},
		} {
			check(t, f.what, f.got, f.want)
		}
		if _, ok := publicIPv4(&c.Instance); ok {
			t.Errorf("public_ipv4 parses when there is none")
		}
		if c.IAM != nil || c.Tags != nil || c.UserDataBytes() != nil || len(c.PublicKeys()) != 0 {
			t.Errorf("optional parts present: iam %v tags %v", c.IAM, c.Tags)
		}
	})
	t.Run("mac normalised", func(t *testing.T) {
		for _, in := range []string{"0A:07:84:3D:6E:38", "0a-07-84-3d-6e-38", "0a07.843d.6e38"} {
			c := get(t, `{"mac": "`+in+`"}`)
			check(t, "mac "+in, c.MAC, "0a:07:84:3d:6e:38")
		}
	})
	t.Run("stable derived ids", func(t *testing.T) {
		a := get(t, `{"instance_id": "i-0123456789abcdef0"}`)
		b := get(t, `{"instance_id": "i-0123456789abcdef0", "region": "us-east-2", "local_ipv4": "10.9.9.9"}`)
		other := get(t, `{"instance_id": "i-0123456789abcdef1"}`)
		// Per instance: the same for one instance id whatever else
		// changes, different for another. Shared (the network's): the
		// same for every instance in one network, different in another.
		shapes := []struct {
			what    string
			a, b, o string
			re      string
			shared  bool
		}{
			{"ami_id", a.AMIID, b.AMIID, other.AMIID, `^ami-[0-9a-f]{17}$`, false},
			{"reservation_id", a.ReservationID, b.ReservationID, other.ReservationID, `^r-[0-9a-f]{17}$`, false},
			{"interface_id", a.InterfaceID, b.InterfaceID, other.InterfaceID, `^eni-[0-9a-f]{17}$`, false},
			{"subnet_id", a.SubnetID, b.SubnetID, other.SubnetID, `^subnet-[0-9a-f]{17}$`, true},
			{"vpc_id", a.VPCID, b.VPCID, other.VPCID, `^vpc-[0-9a-f]{17}$`, true},
			{"security_group_ids[0]", a.SecurityGroupIDs[0], b.SecurityGroupIDs[0], other.SecurityGroupIDs[0], `^sg-[0-9a-f]{17}$`, true},
		}
		seen := map[string]string{}
		for _, s := range shapes {
			if !regexp.MustCompile(s.re).MatchString(s.a) {
				t.Errorf("%s = %q, want it to match %s", s.what, s.a, s.re)
			}
			switch {
			case !s.shared && s.a != s.b:
				t.Errorf("%s changed with other keys: %q, %q", s.what, s.a, s.b)
			case !s.shared && s.a == s.o:
				t.Errorf("%s is %q for two instance ids", s.what, s.a)
			case s.shared && s.a != s.o:
				t.Errorf("%s differs between two instances in one network: %q, %q", s.what, s.a, s.o)
			case s.shared && s.a == s.b:
				t.Errorf("%s is %q in two networks", s.what, s.a)
			}
			hex := s.a[strings.IndexByte(s.a, '-')+1:]
			if prev, dup := seen[hex]; dup {
				t.Errorf("%s and %s share the digits %s", prev, s.what, hex)
			}
			seen[hex] = s.what
		}
		// Pinned, so that an upgrade never changes an instance's ids.
		check(t, "ami_id of i-0123456789abcdef0", a.AMIID, get(t, `{"instance_id": "i-0123456789abcdef0"}`).AMIID)
		check(t, "ami_id of the default", get(t, `{}`).AMIID, "ami-c716f99d00109ab25")
		check(t, "reservation_id of the default", get(t, `{}`).ReservationID, "r-a18c51badbf9d955d")
	})
	t.Run("security groups", func(t *testing.T) {
		c := get(t, `{}`)
		if len(c.SecurityGroups) != 1 || c.SecurityGroups[0] != "default" || len(c.SecurityGroupIDs) != 1 {
			t.Fatalf("default groups %q ids %q", c.SecurityGroups, c.SecurityGroupIDs)
		}
		c = get(t, `{"security_groups": ["default", "web", "ssh"]}`)
		if len(c.SecurityGroupIDs) != 3 {
			t.Fatalf("ids %q for 3 groups", c.SecurityGroupIDs)
		}
		ids := map[string]bool{}
		for _, id := range c.SecurityGroupIDs {
			ids[id] = true
		}
		if len(ids) != 3 {
			t.Errorf("ids not distinct: %q", c.SecurityGroupIDs)
		}
		d := get(t, `{"security_groups": ["ssh"]}`)
		check(t, "id of group ssh", d.SecurityGroupIDs[0], c.SecurityGroupIDs[2])
		c = get(t, `{"security_groups": []}`)
		if len(c.SecurityGroups) != 0 || len(c.SecurityGroupIDs) != 0 {
			t.Errorf("no groups: %q %q", c.SecurityGroups, c.SecurityGroupIDs)
		}
		c = get(t, `{"security_groups": ["a", "b"], "security_group_ids": ["sg-1", "sg-2"]}`)
		check(t, "given ids", strings.Join(c.SecurityGroupIDs, ","), "sg-1,sg-2")
	})
	t.Run("IAM", func(t *testing.T) {
		c := get(t, `{"instance_id": "i-0123456789abcdef0", "account_id": "210987654321", "iam": {"role": "web"}}`)
		a := c.IAM
		for _, f := range []struct{ what, got, re string }{
			{"access_key_id", a.AccessKeyID, `^ASIA[0-9A-F]{16}$`},
			{"secret_access_key", a.SecretAccessKey, `^[A-Za-z0-9+/]{40}$`},
			{"token", a.Token, `^[A-Za-z0-9+/]{86}==$`},
			{"instance_profile_arn", a.InstanceProfileArn, `^arn:aws:iam::210987654321:instance-profile/web$`},
			{"instance_profile_id", a.InstanceProfileID, `^AIPA[0-9A-F]{16}$`},
		} {
			if !regexp.MustCompile(f.re).MatchString(f.got) {
				t.Errorf("%s = %q, want it to match %s", f.what, f.got, f.re)
			}
		}
		again := get(t, `{"instance_id": "i-0123456789abcdef0", "account_id": "210987654321", "iam": {"role": "web"}}`).IAM
		if *again != *a {
			t.Errorf("IAM defaults are not stable: %+v, %+v", again, a)
		}
		other := get(t, `{"instance_id": "i-0123456789abcdef0", "iam": {"role": "db"}}`).IAM
		if other.AccessKeyID == a.AccessKeyID || other.SecretAccessKey == a.SecretAccessKey {
			t.Errorf("two roles share credentials")
		}
		cn := get(t, `{"region": "cn-north-1", "iam": {"role": "web"}}`).IAM
		check(t, "China ARN", cn.InstanceProfileArn, "arn:aws-cn:iam::123456789012:instance-profile/web")
		gov := get(t, `{"region": "us-gov-east-1", "iam": {"role": "web"}}`).IAM
		check(t, "GovCloud ARN", gov.InstanceProfileArn, "arn:aws-us-gov:iam::123456789012:instance-profile/web")
		given := get(t, `{"iam": {"role": "web", "access_key_id": "AKIAX", "secret_access_key": "s", "token": "t", "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/p", "instance_profile_id": "AIPAX"}}`).IAM
		want := IAM{Role: "web", AccessKeyID: "AKIAX", SecretAccessKey: "s", Token: "t", InstanceProfileArn: "arn:aws:iam::123456789012:instance-profile/p", InstanceProfileID: "AIPAX"}
		if *given != want {
			t.Errorf("given IAM values changed: %+v", *given)
		}
		if c := get(t, `{"iam": null}`); c.IAM != nil {
			t.Errorf("iam null gives %+v", c.IAM)
		}
	})
	t.Run("public keys", func(t *testing.T) {
		c := get(t, `{"ssh_public_keys": ["ssh-ed25519 AAAA alice@host", "  ssh-rsa BBBB  ", "ssh-rsa CCCC alice@host", "ssh-rsa DDDD my key\n"]}`)
		want := []PublicKey{
			{Name: "alice@host", Key: "ssh-ed25519 AAAA alice@host"},
			{Name: "key-1", Key: "ssh-rsa BBBB"},
			{Name: "key-2", Key: "ssh-rsa CCCC alice@host"},
			{Name: "my key", Key: "ssh-rsa DDDD my key"},
		}
		got := c.PublicKeys()
		if len(got) != len(want) {
			t.Fatalf("PublicKeys() = %q", got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("PublicKeys()[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// TestFaults checks fault lookups: the paths are normalised, delays and
// statuses for one path merge, and default_delay_ms fills in.
func TestFaults(t *testing.T) {
	c, _, err := Parse("t.json", []byte(`{
  "default_delay_ms": 7,
  "endpoint_delay_ms": {"/latest/meta-data/instance-id/": 2000, "user-data": 0, "latest": 3},
  "force_status": {"2021-03-23/meta-data/instance-id": 503, "api/token": 403, "/latest/meta-data/mac": 404}
}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path          string
		delay, status int
	}{
		{"meta-data/instance-id", 2000, 503},
		{"meta-data/mac", 7, 404},
		{"api/token", 7, 403},
		{"user-data", 0, 0},
		{"", 3, 0},
		{"meta-data/ami-id", 7, 0},
		{"meta-data", 7, 0},
		{"meta-data/instance-id/extra", 7, 0},
	}
	for _, tt := range tests {
		delay, status := c.Fault(tt.path)
		if delay != tt.delay || status != tt.status {
			t.Errorf("Fault(%q) = %d, %d; want %d, %d", tt.path, delay, status, tt.delay, tt.status)
		}
	}
	if !hasFaults(&c.Instance) {
		t.Errorf("hasFaults = false")
	}
}

func TestFaultsPresent(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{`{}`, false},
		{`{"default_delay_ms": 0, "endpoint_delay_ms": {}, "force_status": {}}`, false},
		{`{"default_delay_ms": 1}`, true},
		{`{"endpoint_delay_ms": {"meta-data/ami-id": 1}}`, true},
		{`{"endpoint_delay_ms": {"meta-data/ami-id": 0}}`, true},
		{`{"force_status": {"meta-data/ami-id": 500}}`, true},
	} {
		c, _, err := Parse("t.json", []byte(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		if got := hasFaults(&c.Instance); got != tt.want {
			t.Errorf("%s: hasFaults = %t, want %t", tt.src, got, tt.want)
		}
	}
}

func TestModes(t *testing.T) {
	for _, tt := range []struct {
		src             string
		tokens, enabled bool
	}{
		{`{}`, true, true},
		{`{"http_tokens": "required", "http_endpoint": "enabled"}`, true, true},
		{`{"http_tokens": "optional"}`, false, true},
		{`{"http_endpoint": "disabled"}`, true, false},
		{`{"http_tokens": "optional", "http_endpoint": "disabled"}`, false, false},
	} {
		c, _, err := Parse("t.json", []byte(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		if c.TokensRequired() != tt.tokens || c.EndpointEnabled() != tt.enabled {
			t.Errorf("%s: TokensRequired %t EndpointEnabled %t, want %t %t", tt.src, c.TokensRequired(), c.EndpointEnabled(), tt.tokens, tt.enabled)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "f.json", Line: 3, Key: "iam.role", Msg: "bad"}, "f.json:3: iam.role: bad"},
		{Error{File: "f.json", Key: "region", Msg: "bad"}, "f.json: region: bad"},
		{Error{File: "f.json", Line: 7, Msg: "invalid JSON: x"}, "f.json:7: invalid JSON: x"},
		{Error{File: "f.json", Msg: "the file is empty"}, "f.json: the file is empty"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	l := ErrorList{&tests[0].e, &tests[2].e}
	if got, want := l.Error(), "f.json:3: iam.role: bad\nf.json:7: invalid JSON: x"; got != want {
		t.Errorf("ErrorList.Error() = %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imdsd.json")
	if err := os.WriteFile(path, []byte("{\n  \"region\": \"us-east-2\",\n  \"mac\": \"x\"\n}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(path)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Error() != path+`:3: mac: "x" is not a MAC address: expected six two-digit hex numbers joined by colons, such as 02:00:00:00:00:01` {
		t.Errorf("Load: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"region": "us-east-2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, warns, err := Load(path)
	if err != nil || len(warns) != 0 || c.Region != "us-east-2" {
		t.Errorf("Load = %v, %v, %v", c, warns, err)
	}
	_, _, err = Load(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestDeepNesting checks that a deeply nested value under an unknown key is
// skipped without recursion and reported once.
func TestDeepNesting(t *testing.T) {
	const depth = 10000
	src := `{"x": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `, "y": ` + strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth) + `}`
	errs, _ := parseMessages(t, src)
	sameLines(t, "errors", errs, []string{
		`t.json:1: x: unknown key: remove it or correct its spelling`,
		`t.json:1: y: unknown key: remove it or correct its spelling`,
	})
	errs, _ = parseMessages(t, `{"iam": `+strings.Repeat("[", depth)+strings.Repeat("]", depth)+`}`)
	sameLines(t, "errors", errs, []string{
		`t.json:1: iam: expected an object such as {"role": "web"}, got a list`,
	})
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"seed", "full", "errors"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				Parse(name+".json", data)
			}
		})
	}
}

// hasFaults reports whether c injects any delay or status.
func hasFaults(c *Instance) bool { return c.DefaultDelayMS > 0 || len(c.faults) > 0 }

// publicIPv4 parses c's public address.
func publicIPv4(c *Instance) (netip.Addr, bool) {
	a, err := netip.ParseAddr(c.PublicIPv4)
	return a, err == nil
}

// TestHugeNumbers checks that a whole number too large to read is
// reported with its own key's range: every whole-number key used to say
// "expected 0 to 600000 milliseconds".
func TestHugeNumbers(t *testing.T) {
	const huge = "99999999999999999999"
	tests := []struct{ src, want string }{
		{`{"max_connections": ` + huge + `}`,
			`t.json:1: max_connections: ` + huge + ` is out of range: expected 0 to 1000000 connections (0: no cap)`},
		{`{"max_connections_per_client": -` + huge + `}`,
			`t.json:1: max_connections_per_client: -` + huge + ` is out of range: expected 0 to 1000000 connections (0: no cap)`},
		{`{"token_hop_limit": ` + huge + `}`,
			`t.json:1: token_hop_limit: ` + huge + ` is out of range: expected 1 to 64, as EC2's http-put-response-hop-limit`},
		{`{"header_timeout_ms": ` + huge + `}`,
			`t.json:1: header_timeout_ms: ` + huge + ` is out of range: expected 100 to 600000 milliseconds`},
		{`{"max_header_bytes": ` + huge + `}`,
			`t.json:1: max_header_bytes: ` + huge + ` is out of range: expected 1024 to 65536 bytes`},
		{`{"rate_limit": {"requests_per_second": ` + huge + `}}`,
			`t.json:1: rate_limit.requests_per_second: ` + huge + ` is out of range: expected 0 (no limit) to 1000000`},
		{`{"rate_limit": {"burst": ` + huge + `}}`,
			`t.json:1: rate_limit.burst: ` + huge + ` is out of range: expected 1 to 1000000 requests`},
		{`{"instances": [{"match": ["10.0.0.1"], "force_status": {"user-data": ` + huge + `}}]}`,
			`t.json:1: instances[0].force_status.user-data: ` + huge + ` is out of range: expected a status from 200 to 599, such as 404 or 503`},
	}
	for _, tt := range tests {
		errs, _ := parseMessages(t, tt.src)
		sameLines(t, tt.src, errs, []string{tt.want})
	}
	// The same ranges judge numbers that can be read.
	errs, _ := parseMessages(t, `{"token_hop_limit": 0, "max_connections": 1000001}`)
	sameLines(t, "in range", errs, []string{
		`t.json:1: token_hop_limit: 0 is out of range: expected 1 to 64, as EC2's http-put-response-hop-limit`,
		`t.json:1: max_connections: 1000001 is out of range: expected 0 to 1000000 connections (0: no cap)`,
	})
}

// TestRangesComplete checks that every whole-number key has its range, so
// that rangeOf never panics on a key added later.
func TestRangesComplete(t *testing.T) {
	var walk func(t reflect.Type, field string, seen map[reflect.Type]bool)
	walk = func(rt reflect.Type, field string, seen map[reflect.Type]bool) {
		switch rt.Kind() {
		case reflect.Pointer:
			walk(rt.Elem(), field, seen)
		case reflect.Slice, reflect.Map:
			walk(rt.Elem(), field+"[]", seen)
		case reflect.Int:
			if _, ok := ranges[instanceField(field)]; !ok {
				t.Errorf("whole-number key %s has no range", field)
			}
		case reflect.Struct:
			if seen[rt] {
				return
			}
			seen[rt] = true
			for i := 0; i < rt.NumField(); i++ {
				f := rt.Field(i)
				name := strictjson.Name(f)
				switch {
				case f.Anonymous:
					walk(f.Type, field, seen)
				case f.IsExported() && name != "" && name != "-":
					walk(f.Type, strings.TrimPrefix(field+"."+name, "."), seen)
				}
			}
			delete(seen, rt)
		}
	}
	walk(reflect.TypeFor[File](), "", map[reflect.Type]bool{})
}

// TestNeedsRestart checks which changed keys a reload cannot apply.
func TestNeedsRestart(t *testing.T) {
	parse := func(src string) *Config {
		t.Helper()
		c, _, err := Parse("t.json", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse(`{"token_key_file": "/k", "header_timeout_ms": 1000}`)
	for _, tt := range []struct {
		src  string
		want string
	}{
		{`{"token_key_file": "/k", "header_timeout_ms": 1000}`, ""},
		{`{"token_key_file": "/k", "header_timeout_ms": 1000, "max_connections": 5, "rate_limit": {"burst": 3},
		   "token_hop_limit": 3, "unknown_clients": "deny", "region": "us-east-2"}`, ""},
		{`{"token_key_file": "/other", "header_timeout_ms": 1000}`, "token_key_file"},
		{`{"max_header_bytes": 2048}`, "token_key_file header_timeout_ms max_header_bytes"},
	} {
		if got := strings.Join(NeedsRestart(old, parse(tt.src)), " "); got != tt.want {
			t.Errorf("%s: NeedsRestart = %q, want %q", tt.src, got, tt.want)
		}
	}
}
