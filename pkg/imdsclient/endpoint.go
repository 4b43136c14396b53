package imdsclient

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// EC2's endpoints. The IPv6 one exists on Nitro instances with
// http-protocol-ipv6 enabled.
const (
	DefaultEndpoint = "http://169.254.169.254"
	IPv6Endpoint    = "http://[fd00:ec2::254]"
)

// Environment variables the AWS SDKs read, honoured by [EnvEndpoint].
const (
	EnvEndpointVar     = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
	EnvEndpointModeVar = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"
)

// ParseEndpoint turns an endpoint as a person writes it into a base URL
// with no trailing slash. It accepts an http:// or https:// URL (a path is
// kept as a prefix), an IP address ("127.0.0.1", "fd00:ec2::254"),
// "host:port", "[v6]" or "[v6]:port", and a bare host name. Empty means
// [DefaultEndpoint].
func ParseEndpoint(s string) (string, error) {
	if s == "" {
		return DefaultEndpoint, nil
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("endpoint %q: %w", s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("endpoint %q: scheme must be http or https", s)
		}
		if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("endpoint %q: want scheme://host[:port][/path]", s)
		}
		if err := checkHostPort(u.Host); err != nil {
			return "", fmt.Errorf("endpoint %q: %w", s, err)
		}
		return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Is6() && !a.Is4In6() {
			if z := a.Zone(); z != "" { // a link-local address with its interface
				return "http://[" + a.WithZone("").String() + "%25" + url.PathEscape(z) + "]", nil
			}
			return "http://[" + s + "]", nil
		}
		return "http://" + s, nil
	}
	if err := checkHostPort(s); err != nil {
		return "", fmt.Errorf("endpoint %q: %w", s, err)
	}
	return "http://" + s, nil
}

// checkHostPort accepts "host", "host:port", "[v6]" and "[v6]:port".
func checkHostPort(hp string) error {
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
		host = hp[1 : len(hp)-1]
	} else if strings.Contains(hp, ":") {
		var err error
		if host, port, err = net.SplitHostPort(hp); err != nil {
			return err
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return fmt.Errorf("bad port %q", port)
		}
	}
	if strings.HasPrefix(hp, "[") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("bad IPv6 address %q", host)
		}
		return nil
	}
	if host == "" || strings.ContainsAny(host, "/?#@ \t%[]") {
		return fmt.Errorf("bad host %q", host)
	}
	return nil
}

// EnvEndpoint returns the endpoint the AWS SDKs would use according to the
// environment, or "" when it does not say: AWS_EC2_METADATA_SERVICE_ENDPOINT
// if set, else [IPv6Endpoint] or [DefaultEndpoint] if
// AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is "IPv6" or "IPv4" (in any
// case).
func EnvEndpoint(getenv func(string) string) (string, error) {
	if e := getenv(EnvEndpointVar); e != "" {
		u, err := ParseEndpoint(e)
		if err != nil {
			return "", fmt.Errorf("%s: %w", EnvEndpointVar, err)
		}
		return u, nil
	}
	switch m := getenv(EnvEndpointModeVar); strings.ToLower(m) {
	case "":
		return "", nil
	case "ipv4":
		return DefaultEndpoint, nil
	case "ipv6":
		return IPv6Endpoint, nil
	default:
		return "", fmt.Errorf("%s: %q is neither IPv4 nor IPv6", EnvEndpointModeVar, m)
	}
}
