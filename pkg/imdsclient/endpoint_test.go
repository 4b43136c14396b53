package imdsclient_test

import (
	"testing"

	"github.com/imdsd/imdsd/pkg/imdsclient"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "", want: "http://169.254.169.254"},
		{in: "127.0.0.1", want: "http://127.0.0.1"},
		{in: "127.0.0.1:8000", want: "http://127.0.0.1:8000"},
		{in: "fd00:ec2::254", want: "http://[fd00:ec2::254]"},
		{in: "fe80::1%vtnet0", want: "http://[fe80::1%25vtnet0]"},
		{in: "[fd00:ec2::254]", want: "http://[fd00:ec2::254]"},
		{in: "[::1]:8000", want: "http://[::1]:8000"},
		{in: "localhost:8000", want: "http://localhost:8000"},
		{in: "imds.example", want: "http://imds.example"},
		{in: "http://169.254.169.254/", want: "http://169.254.169.254"},
		{in: "http://[fd00:ec2::254]:80", want: "http://[fd00:ec2::254]:80"},
		{in: "https://proxy.example/imds/", want: "https://proxy.example/imds"},
		{in: "ftp://x", bad: true},
		{in: "http://", bad: true},
		{in: "http://x/?q=1", bad: true},
		{in: "http://user@x", bad: true},
		{in: "host:http", bad: true},
		{in: "host:0", bad: true},
		{in: "host:65536", bad: true},
		{in: ":80", bad: true},
		{in: "[nonsense]:80", bad: true},
		{in: "a/b", bad: true},
	}
	for _, tt := range tests {
		got, err := imdsclient.ParseEndpoint(tt.in)
		switch {
		case tt.bad && err == nil:
			t.Errorf("ParseEndpoint(%q) = %q, want an error", tt.in, got)
		case !tt.bad && (err != nil || got != tt.want):
			t.Errorf("ParseEndpoint(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestEnvEndpoint(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
		bad  bool
	}{
		{env: nil, want: ""},
		{env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8000/"}, want: "http://127.0.0.1:8000"},
		{env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}, want: "http://[fd00:ec2::254]"},
		{env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "ipv4"}, want: "http://169.254.169.254"},
		{env: map[string]string{
			"AWS_EC2_METADATA_SERVICE_ENDPOINT":      "http://10.0.0.1",
			"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6",
		}, want: "http://10.0.0.1"},
		{env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv5"}, bad: true},
		{env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": "ftp://x"}, bad: true},
	}
	for _, tt := range tests {
		got, err := imdsclient.EnvEndpoint(func(k string) string { return tt.env[k] })
		switch {
		case tt.bad && err == nil:
			t.Errorf("%v: %q, want an error", tt.env, got)
		case !tt.bad && (err != nil || got != tt.want):
			t.Errorf("%v: %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}
