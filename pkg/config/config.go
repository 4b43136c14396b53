// Package config reads, completes and checks an imdsd configuration.
//
// The format is the JSON object of the original Python mock's README, accepted
// unchanged, plus keys that real EC2 clients need (see imdsd.conf(5)). Decoding
// is strict: unknown keys, duplicate keys, wrong types and malformed values are
// errors that name the file, the line and the key. Whole lines starting with
// "#" or "//" are comments.
//
// The types say what each key is for. An [Instance] is what one guest sees:
// its metadata and the faults injected into its answers. The [Service] is
// how imdsd serves every guest: load protection, the token key, the hop
// limit, where more instances come from. A [File] is a configuration file:
// the top-level instance (the default one, and what every entry inherits),
// the service, and the [Entry] values of "instances", each an instance and
// the guests it serves; a file of instances_dir is one Entry. A key of the
// service inside an entry, or "match" at the top level, is reported as
// misplaced. Adding a key is adding a field to one of these types, with its
// range in the table ranges (validate.go) if it is a whole number, and its checks, if any, to validate.
//
// Loading happens in the manner of Caddy's modules: decode (JSON into a
// [File]), provision (fill in defaults and derive what was left out from
// what was given; reports nothing) and validate (reject what a client cannot
// use, warn about what a client will trip on; changes nothing). An entry is
// the top-level instance with the entry's own keys merged over it
// ([Instance.Merge]), provisioned and validated on its own. A key given as
// "" is the same as a key left out; null is accepted only for user_data,
// user_data_base64, iam and the objects of an instance's life
// (spot_interruption, rebalance_recommendation, iam.rotation), and also
// means "left out" (in an entry: not inherited). Every problem found
// is reported, as an [ErrorList] of messages "file:line: key: problem and
// the expected form", in file order, each with its [Severity]. Keys are
// written as paths: "iam.role", "ssh_public_keys[1]",
// `force_status["meta-data/instance-id"]`.
//
// A [Config] returned without error is complete and never changes
// afterwards, so it can be shared between goroutines.
package config

import (
	_ "embed"
	"net"
	"net/netip"

	"github.com/imdsd/imdsd/internal/lifecycle"
)

// MaxUserData is the largest user-data EC2 accepts: 16 KiB, before base64.
const MaxUserData = 16384

// Instance is what one guest sees: its metadata and its fault injection.
// Field comments name the JSON key where it is not the obvious one. After
// loading, every value is filled in.
type Instance struct {
	// Seed keys.
	InstanceID       string   `json:"instance_id"`
	Hostname         string   `json:"hostname"`
	PublicHostname   string   `json:"public_hostname"`
	LocalHostname    string   `json:"local_hostname"`
	LocalIPv4        string   `json:"local_ipv4"`
	PublicIPv4       string   `json:"public_ipv4"`
	MAC              string   `json:"mac"`
	AccountID        string   `json:"account_id"`
	Region           string   `json:"region"`
	AvailabilityZone string   `json:"availability_zone"`
	InstanceType     string   `json:"instance_type"`
	Architecture     string   `json:"architecture"`
	SSHPublicKeys    []string `json:"ssh_public_keys"`
	// UserData is served verbatim at /latest/user-data.
	UserData *string `json:"user_data"`
	// UserDataBase64 is user-data given as base64, for binary (gzip) payloads.
	UserDataBase64   *string        `json:"user_data_base64"`
	DefaultDelayMS   int            `json:"default_delay_ms"`
	EndpointDelayMS  map[string]int `json:"endpoint_delay_ms"`
	ForceStatus      map[string]int `json:"force_status"`
	AMIID            string         `json:"ami_id"`
	ReservationID    string         `json:"reservation_id"`
	SecurityGroups   []string       `json:"security_groups"`
	SecurityGroupIDs []string       `json:"security_group_ids"`
	// AvailabilityZoneID such as "use2-az2".
	AvailabilityZoneID string `json:"availability_zone_id"`
	InterfaceID        string `json:"interface_id"`
	SubnetID           string `json:"subnet_id"`
	SubnetIPv4CIDR     string `json:"subnet_ipv4_cidr_block"`
	VPCID              string `json:"vpc_id"`
	VPCIPv4CIDR        string `json:"vpc_ipv4_cidr_block"`
	// Tags are served under meta-data/tags/instance only when set.
	Tags map[string]string `json:"tags"`
	// IAM, when set, attaches an instance profile.
	IAM *IAM `json:"iam"`
	// HTTPTokens is "required" (the default) or "optional".
	HTTPTokens string `json:"http_tokens"`
	// HTTPEndpoint is "enabled" (the default) or "disabled".
	HTTPEndpoint string `json:"http_endpoint"`
	// Spec holds the keys of the instance's life (see imdsd.conf(5),
	// LIFECYCLE): market, spot_interruption, rebalance_recommendation,
	// scheduled_events and autoscaling_lifecycle. They are checked by
	// lifecycle.Check and compiled by the server into a timeline per
	// guest; after loading, Market is "on-demand" or "spot".
	lifecycle.Spec
	// ActionCommand is the host hook (imdsd.conf(5), action_command): a
	// program and its arguments, run on the host when an action of the
	// instance's life falls due (a spot action, a scheduled event's
	// not_before). Absent: nothing is run.
	ActionCommand []string `json:"action_command,omitempty"`

	// Filled in by provisioning; not keys.
	userData []byte
	keys     []PublicKey
	faults   map[string]Fault
}

// Service is how imdsd serves every guest: the top-level keys that are not
// an instance's. After loading, every value is filled in: a key left out has
// its default and paths are absolute or relative to the working directory.
// A reload applies every key except those tagged reload:"restart", which
// are read once at start (see [NeedsRestart]).
type Service struct {
	// InstancesDir holds one *.json file per entry, read at every load.
	InstancesDir string `json:"instances_dir"`
	// UnknownClients is "default" (the top-level instance) or "deny" (403)
	// for a client no entry matches.
	UnknownClients string `json:"unknown_clients"`
	// TokenKeyFile holds the token sealing key, so that tokens survive a
	// restart; created when missing. Read at start only.
	TokenKeyFile string `json:"token_key_file" reload:"restart"`
	// StateFile keeps what imdsctl changed at run time, so that it
	// survives a restart; "" means the state directory's state.json (see
	// package statefile's DefaultPath), "none" keeps nothing. Read at
	// start only.
	StateFile string `json:"state_file" reload:"restart"`
	// TokenHopLimit is the IP TTL of token responses: 1 to 64, default 1.
	TokenHopLimit int `json:"token_hop_limit"`
	// Load protection; see the Default* constants. 0 turns
	// max_connections and max_connections_per_client off.
	MaxConnections          int `json:"max_connections"`
	MaxConnectionsPerClient int `json:"max_connections_per_client"`
	// HeaderTimeoutMS and MaxHeaderBytes are read at start only.
	HeaderTimeoutMS int        `json:"header_timeout_ms" reload:"restart"`
	MaxHeaderBytes  int        `json:"max_header_bytes" reload:"restart"`
	RateLimit       *RateLimit `json:"rate_limit"`
}

// Entry is one entry of "instances", or one file of instances_dir: an
// instance and the guests it serves. As decoded, its Instance holds only the
// keys the entry gives; after loading it is complete, the top level's values
// under the entry's own.
type Entry struct {
	Instance
	// Match holds the client addresses, networks or MAC addresses the
	// entry serves. An entry that gives a mac and no match is matched by
	// its own mac.
	Match []string `json:"match"`
	// Listen, when given, limits the entry to connections to one local
	// address, and port.
	Listen string `json:"listen"`

	// Filled in by loading, from Match and Listen; not keys.

	// Clients holds the client networks; an address is a /32 or /128.
	// IPv4-mapped IPv6 clients are matched as IPv4.
	Clients []netip.Prefix `json:"-"`
	// MACs holds the MAC addresses of the guests the entry serves: those
	// of Match, or its own mac when it gives a mac and no match. See
	// [Entry.ForClient] for what a guest matched by MAC address is served.
	MACs []net.HardwareAddr `json:"-"`
	// Local, when valid, is the local address (and port, when
	// Local.Port() is not 0) the entry applies to.
	Local netip.AddrPort `json:"-"`
	// Origin says where the entry was defined, for messages:
	// "imdsd.conf:12" or "vms/web1.json".
	Origin string `json:"-"`

	own     ownKeys   // the keys the entry gives itself (mac.go)
	decoded *Instance // the entry's instance before provisioning, for ForClient
	// ownInst and ownGiven are the entry as decoded and the keys its file
	// gives, so that runtime overrides merge where the file's keys do
	// (override.go).
	ownInst  *Instance
	ownGiven func(path string) bool
}

// File is what a configuration file holds, as decoded.
type File struct {
	// Instance is the default instance, served to clients no entry
	// matches unless unknown_clients is "deny", and what entries inherit.
	Instance
	Service
	Instances []Entry `json:"instances"`
}

// Config is a loaded configuration: the top-level instance, the service and
// every entry, complete and checked.
type Config struct {
	// Instance is the default instance, served to clients no entry matches
	// unless unknown_clients is "deny".
	Instance
	Service
	entries []*Entry
	base    *Instance // the top-level instance as decoded, which entries inherit
	dir     string    // the directory relative paths of the file start from
}

// RateLimit is the per-client request rate limit.
type RateLimit struct {
	// RequestsPerSecond on average per client (a guest, or the address
	// of a client no guest matches, IPv6 per /64); 0 turns the limit off.
	RequestsPerSecond int `json:"requests_per_second"`
	// Burst is how many requests may come at once (default twice the
	// rate).
	Burst int `json:"burst"`
	// Action is what a client over its rate gets: "delay" (the default, as
	// EC2), "429" or "503".
	Action string `json:"action"`
	// Loopback includes loopback clients (127.0.0.0/8, ::1) in the
	// limit; by default they are exempt, since only the host itself (a
	// developer, a CI job) can send from them.
	Loopback bool `json:"loopback"`
}

// Defaults of the load protection keys.
const (
	DefaultMaxConnections          = 4096
	DefaultMaxConnectionsPerClient = 256
	DefaultHeaderTimeoutMS         = 5000
	DefaultMaxHeaderBytes          = 8192
	DefaultRequestsPerSecond       = 100
)

// Entries returns the entries of a many-guest configuration, in file
// order, instances_dir files last in name order. It is empty for a
// single-instance configuration.
func (c *Config) Entries() []*Entry { return c.entries }

// Partition is the AWS partition of the region: aws, aws-cn or aws-us-gov.
func (in *Instance) Partition() string { return partition(in.Region) }

// ServiceDomain is the region's domain for AWS service endpoints
// (services/domain).
func (in *Instance) ServiceDomain() string {
	if in.Partition() == "aws-cn" {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// DenyUnknown reports whether clients no entry matches are refused.
func (s *Service) DenyUnknown() bool { return s.UnknownClients == "deny" }

// HopLimit returns the IP TTL for token responses.
func (s *Service) HopLimit() int {
	if s.TokenHopLimit == 0 {
		return 1
	}
	return s.TokenHopLimit
}

// IAM is an instance profile and the credentials its role hands out.
type IAM struct {
	Role               string `json:"role"`
	AccessKeyID        string `json:"access_key_id"`
	SecretAccessKey    string `json:"secret_access_key"`
	Token              string `json:"token"`
	InstanceProfileArn string `json:"instance_profile_arn"`
	InstanceProfileID  string `json:"instance_profile_id"`
	// Credentials holds rotation and fault, the lifecycle keys of iam.
	lifecycle.Credentials
}

// PublicKey is one entry of ssh_public_keys, as served under public-keys/.
type PublicKey struct {
	Name string // listed as "N=Name"
	Key  string // the OpenSSH line, without a trailing newline
}

// Fault is what fault injection does to requests for one path.
type Fault struct {
	DelayMS int // -1 when the path has no delay of its own
	Status  int // 0 when the status is not forced
}

// UserDataBytes returns the user-data, or nil when none is configured.
func (in *Instance) UserDataBytes() []byte { return in.userData }

// PublicKeys returns the SSH keys in index order.
func (in *Instance) PublicKeys() []PublicKey { return in.keys }

// TokensRequired reports whether GETs need an IMDSv2 token.
func (in *Instance) TokensRequired() bool { return in.HTTPTokens != "optional" }

// EndpointEnabled reports whether the service answers at all.
func (in *Instance) EndpointEnabled() bool { return in.HTTPEndpoint != "disabled" }

// Fault returns the delay and the forced status (0 for none) for a request
// path below the API version, as imdspath.Split returns it ("meta-data/
// instance-id", "api/token"). A path with no delay of its own gets
// default_delay_ms.
func (in *Instance) Fault(path string) (delayMS, status int) {
	delayMS = in.DefaultDelayMS
	if f, ok := in.faults[path]; ok {
		if f.DelayMS >= 0 {
			delayMS = f.DelayMS
		}
		status = f.Status
	}
	return delayMS, status
}

//go:embed default.json
var defaultJSON []byte

// DefaultName is the file name given in messages about the built-in config.
const DefaultName = "(built-in default)"

// Default returns the built-in configuration, the one [Load] gives for "":
// an example instance that passes every check. Each call returns a
// configuration of its own. It panics only if the embedded default.json
// does not load, which the package's tests rule out.
func Default() *Config {
	c, _, err := Parse(DefaultName, defaultJSON)
	if err != nil {
		panic("config: built-in default does not load: " + err.Error())
	}
	return c
}

// DefaultJSON returns the built-in configuration as JSON text.
func DefaultJSON() []byte { return append([]byte(nil), defaultJSON...) }
