package lifecycle

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// Credential faults' figures.
const (
	// ExpiringLifetime and ExpiringInterval make the "expiring" fault:
	// every set served has between 5 and 9 minutes left, under the 10
	// minutes at which SDKs must refresh.
	ExpiringLifetime = 9 * time.Minute
	ExpiringInterval = 4 * time.Minute
	// ErrorCode and errorMessage are what EC2 serves when it cannot assume
	// the role (the IAM troubleshooting guide: "Code":
	// "AssumeRoleUnauthorizedAccess").
	ErrorCode    = "AssumeRoleUnauthorizedAccess"
	errorMessage = "EC2 cannot assume the role %s.  Please see documentation at http://docs.amazonwebservices.com/IAM/latest/UserGuide/RolesTroubleshooting.html."
)

// credItem is the credential part of a timeline.
type credItem struct {
	guest, instanceID, role string
	seed                    []byte
	rotation                bool // generated keys
	lifetime, interval      time.Duration
	fault                   string
	floor                   time.Time // the clock counts from the first request, no earlier
	start                   time.Time // Params.CredentialStart: the clock's origin, when not zero
	generation              int
}

func newCredItem(p Params) *credItem {
	c := &credItem{
		guest: p.Guest, instanceID: p.InstanceID, role: p.Role, seed: p.Seed,
		lifetime: DefaultLifetime, interval: DefaultInterval, floor: p.Loaded,
		start: p.CredentialStart, generation: p.Generation,
	}
	if f := p.FirstRequest; !f.IsZero() && f.Before(c.floor) {
		c.floor = f
	}
	if p.IAM != nil {
		c.fault = p.IAM.Fault
		if r := p.IAM.Rotation; r != nil {
			c.rotation = true
			c.lifetime, _ = parseDuration(r.Lifetime)
			c.interval, _ = parseDuration(r.Interval)
		}
	}
	if c.generation > 0 {
		c.rotation = true // a rotation of static keys makes generated ones
	}
	if c.fault == "expiring" {
		c.lifetime, c.interval = ExpiringLifetime, ExpiringInterval
	}
	return c
}

// rotates reports whether new sets are made (and reported as transitions).
func (c *credItem) rotates() bool {
	return c.rotation && (c.fault == "" || c.fault == "expiring")
}

// known reports whether the clock of the sets is known: from the first
// request, or from a rotation asked for at run time.
func (c *credItem) known(first int64) bool { return first != 0 || !c.start.IsZero() }

// anchor is when the first set is made: the guest's first request, no
// earlier than the floor (the load that set the rotation), to the second.
// Before the first request it is the floor. A rotation asked for at run
// time fixes it: it is the rotation's time.
func (c *credItem) anchor(first int64) time.Time {
	if !c.start.IsZero() {
		return ceilSecond(c.start)
	}
	a := c.floor
	if first != 0 {
		if f := time.Unix(0, first); f.After(a) {
			a = f
		}
	}
	return ceilSecond(a)
}

// CredentialSet is what the guest's role credentials are at a time: the
// fields of iam/security-credentials/ROLE, and the LastUpdated of iam/info,
// which moves in step.
type CredentialSet struct {
	// Code is "Success", or [ErrorCode] with Message for the "error" fault.
	Code    string
	Message string
	// LastUpdated is when the set was made; Expiration is when it expires
	// (zero with an error).
	LastUpdated time.Time
	Expiration  time.Time
	// Generated is true with rotation: the keys below are the set's. When
	// false they are empty and the static keys of the configuration apply.
	Generated       bool
	AccessKeyID     string
	SecretAccessKey string
	Token           string
	// Detached is the "detached" fault: the role's path is a 404 while
	// iam/info stays.
	Detached bool
}

// Credentials returns the guest's credential set at now; ok is false when
// the guest has no instance profile. Sets are made at the guest's first
// request and every interval after; each is the same within its interval
// and differs between guests; it is derived from the daemon's seed, so it
// survives a reload that keeps the rotation. Before the first request the
// sets count from the load.
//
// Faults: "expired" serves one set that expired a minute before the first
// request; "expiring" serves sets of 9 minutes made every 4, so between 5
// and 9 minutes are always left; "error" serves Code [ErrorCode]; "detached"
// sets Detached.
func (t *Timeline) Credentials(now time.Time) (CredentialSet, bool) {
	c := t.creds
	if c == nil {
		return CredentialSet{}, false
	}
	a := c.anchor(t.first.Load())
	k := int64(0)
	if now.After(a) {
		k = int64(now.Sub(a) / c.interval)
	}
	made := a.Add(time.Duration(k) * c.interval)
	s := CredentialSet{Code: "Success", LastUpdated: made, Expiration: made.Add(c.lifetime)}
	switch c.fault {
	case "expired":
		k = -1
		s.Expiration = a.Add(-time.Minute)
		s.LastUpdated = s.Expiration.Add(-c.lifetime)
	case "error":
		s.Code, s.Message, s.Expiration = ErrorCode, fmt.Sprintf(errorMessage, c.role), time.Time{}
		return s, true
	case "detached":
		s.Detached = true
	}
	if c.rotation {
		s.Generated = true
		s.AccessKeyID, s.SecretAccessKey, s.Token = c.keys(a, k)
	}
	return s, true
}

// keys derives set k of the rotation that started at a: HMAC-SHA256 of the
// seed over the guest, the instance, the role, the start and k, expanded.
func (c *credItem) keys(a time.Time, k int64) (id, secret, token string) {
	msg := "imdsd credentials v1\x00" + c.guest + "\x00" + c.instanceID + "\x00" + c.role + "\x00" +
		strconv.FormatInt(a.Unix(), 10) + "\x00" + strconv.FormatInt(k, 10)
	if c.generation > 0 {
		msg += "\x00g" + strconv.Itoa(c.generation)
	}
	stream := func(label string, n int) []byte {
		var out []byte
		for i := uint32(0); len(out) < n; i++ {
			m := hmac.New(sha256.New, c.seed)
			var ctr [4]byte
			binary.BigEndian.PutUint32(ctr[:], i)
			m.Write([]byte(label))
			m.Write(ctr[:])
			m.Write([]byte(msg))
			out = m.Sum(out)
		}
		return out[:n]
	}
	const b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	idb := make([]byte, 0, 20)
	idb = append(idb, "ASIA"...)
	for _, x := range stream("id", 16) {
		idb = append(idb, b32[x&31])
	}
	sb := make([]byte, 40)
	for i, x := range stream("secret", 40) {
		sb[i] = b64[x&63]
	}
	// Session tokens of IMDS credentials start with the base64 of a
	// protobuf-like header ("IQoJb3JpZ2luX2Vj", "\x21\n\torigin_ec").
	token = "IQoJb3JpZ2luX2Vj" + base64.StdEncoding.EncodeToString(stream("token", 300))
	return string(idb), string(sb), token
}

// Document renders iam/security-credentials/ROLE in EC2's layout. The
// keys are the set's when Generated, else the static ones given. An error
// set renders Code, Message and LastUpdated, as EC2 does.
func (s CredentialSet) Document(accessKeyID, secretAccessKey, token string) []byte {
	if s.Code != "Success" {
		return jsonObject("Code", s.Code, "Message", s.Message, "LastUpdated", stamp(s.LastUpdated))
	}
	if s.Generated {
		accessKeyID, secretAccessKey, token = s.AccessKeyID, s.SecretAccessKey, s.Token
	}
	return jsonObject(
		"Code", "Success",
		"LastUpdated", stamp(s.LastUpdated),
		"Type", "AWS-HMAC",
		"AccessKeyId", accessKeyID,
		"SecretAccessKey", secretAccessKey,
		"Token", token,
		"Expiration", stamp(s.Expiration),
	)
}

// InfoDocument renders iam/info, whose LastUpdated moves with the sets. It
// says Success even with the "error" fault: the profile is attached, only
// the role cannot be assumed.
func (s CredentialSet) InfoDocument(instanceProfileArn, instanceProfileID string) []byte {
	return jsonObject(
		"Code", "Success",
		"LastUpdated", stamp(s.LastUpdated),
		"InstanceProfileArn", instanceProfileArn,
		"InstanceProfileId", instanceProfileID,
	)
}
