package lifecycle

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

var seed = []byte("0123456789abcdef0123456789abcdef")

func rotating(life, iv string) *Credentials {
	return &Credentials{Rotation: &Rotation{Lifetime: life, Interval: iv}}
}

var (
	reAKID   = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	reSecret = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func TestCredentialsRotation(t *testing.T) {
	tl := compile(t, Spec{}, Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed})
	tl.Request(first)
	a := time.Date(2026, 12, 3, 10, 0, 6, 0, time.UTC) // first, to the second
	set := func(now time.Time) CredentialSet {
		s, ok := tl.Credentials(now)
		if !ok {
			t.Fatal("no credentials")
		}
		return s
	}
	s0 := set(a)
	if !s0.Generated || s0.Code != "Success" || !s0.LastUpdated.Equal(a) || !s0.Expiration.Equal(a.Add(6*time.Hour)) {
		t.Fatalf("first set = %+v", s0)
	}
	if !reAKID.MatchString(s0.AccessKeyID) || !reSecret.MatchString(s0.SecretAccessKey) || !strings.HasPrefix(s0.Token, "IQoJb3JpZ2luX2Vj") {
		t.Errorf("keys not shaped like EC2's: %q %q %q", s0.AccessKeyID, s0.SecretAccessKey, s0.Token)
	}
	// Stable within the interval, a new set at its end.
	if s := set(a.Add(time.Hour - time.Nanosecond)); s != s0 {
		t.Errorf("the set changed within its interval: %+v", s)
	}
	s1 := set(a.Add(time.Hour))
	if s1.AccessKeyID == s0.AccessKeyID || s1.SecretAccessKey == s0.SecretAccessKey || s1.Token == s0.Token {
		t.Error("no new keys after an interval")
	}
	if !s1.LastUpdated.Equal(a.Add(time.Hour)) {
		t.Errorf("LastUpdated = %v", s1.LastUpdated)
	}
	// Every set served has at least 5 minutes left, checked at each
	// boundary over a day.
	for now := a; now.Before(a.Add(24 * time.Hour)); now = now.Add(time.Hour) {
		last := set(now.Add(-time.Nanosecond))
		if left := last.Expiration.Sub(now); left < RotationLead {
			t.Fatalf("at %v the served set has %v left", now, left)
		}
	}
	// The shortest rotation allowed keeps the promise too.
	short := compile(t, Spec{}, Params{Role: "web", IAM: rotating("15m", "10m"), Seed: seed})
	short.Request(first)
	s, _ := short.Credentials(a.Add(10*time.Minute - time.Nanosecond))
	if left := s.Expiration.Sub(a.Add(10 * time.Minute)); left != RotationLead {
		t.Errorf("15m/10m: the old set has %v left when the new one comes, want 5m", left)
	}
	// Deterministic: the same seed, guest and first request give the same
	// set, as after a reload or a restart that keeps them.
	again := compile(t, Spec{}, Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed})
	again.Request(first)
	if s, _ := again.Credentials(a.Add(90 * time.Minute)); s != s1 {
		t.Error("the same inputs gave another set")
	}
	// Different between guests, roles and seeds.
	for name, p := range map[string]Params{
		"guest": {Guest: "web2", Role: "web", IAM: rotating("6h", "1h"), Seed: seed},
		"role":  {Role: "db", IAM: rotating("6h", "1h"), Seed: seed},
		"seed":  {Role: "web", IAM: rotating("6h", "1h"), Seed: []byte("other")},
	} {
		o := compile(t, Spec{}, p)
		o.Request(first)
		if s, _ := o.Credentials(a); s.AccessKeyID == s0.AccessKeyID || s.SecretAccessKey == s0.SecretAccessKey {
			t.Errorf("another %s gets the same keys", name)
		}
	}
	// Transitions: one per set.
	tr := tl.Transitions(first, a.Add(3*time.Hour))
	if len(tr) != 4 || tr[0].Kind != KindCredentials || !tr[3].Time.Equal(a.Add(3*time.Hour)) {
		t.Errorf("Transitions = %v", tr)
	}
	if got := tl.NextChange(a.Add(90 * time.Minute)); !got.Equal(a.Add(2 * time.Hour)) {
		t.Errorf("NextChange = %v", got)
	}
}

func TestCredentialsDocument(t *testing.T) {
	tl := compile(t, Spec{}, Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed})
	tl.Request(first)
	s, _ := tl.Credentials(first.Add(time.Minute))
	var doc struct {
		Code, LastUpdated, Type, AccessKeyId, SecretAccessKey, Token, Expiration string
	}
	body := s.Document("static", "static", "static")
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if doc.Code != "Success" || doc.Type != "AWS-HMAC" || doc.AccessKeyId != s.AccessKeyID || doc.LastUpdated != "2026-12-03T10:00:06Z" || doc.Expiration != "2026-12-03T16:00:06Z" {
		t.Errorf("document = %s", body)
	}
	if !strings.HasPrefix(string(body), "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : ") || !strings.HasSuffix(string(body), "\"Expiration\" : \"2026-12-03T16:00:06Z\"\n}") {
		t.Errorf("layout:\n%s", body)
	}
	info := string(s.InfoDocument("arn:aws:iam::123456789012:instance-profile/web", "AIPAEXAMPLE"))
	want := "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-12-03T10:00:06Z\",\n  \"InstanceProfileArn\" : \"arn:aws:iam::123456789012:instance-profile/web\",\n  \"InstanceProfileId\" : \"AIPAEXAMPLE\"\n}"
	if info != want {
		t.Errorf("info =\n%s\nwant\n%s", info, want)
	}
	// Static keys: times still rotate hourly from the first request, keys
	// are the configuration's.
	st := compile(t, Spec{}, Params{Role: "web", Seed: seed})
	st.Request(first)
	s, _ = st.Credentials(first.Add(61 * time.Minute))
	if s.Generated || !s.LastUpdated.Equal(time.Date(2026, 12, 3, 11, 0, 6, 0, time.UTC)) || !strings.Contains(string(s.Document("AKIDSTATIC", "x", "y")), `"AccessKeyId" : "AKIDSTATIC"`) {
		t.Errorf("static set = %+v", s)
	}
	if _, ok := compile(t, Spec{}, Params{}).Credentials(first); ok {
		t.Error("credentials without a role")
	}
}

func TestCredentialFaults(t *testing.T) {
	a := time.Date(2026, 12, 3, 10, 0, 6, 0, time.UTC)
	fault := func(f string, rot bool) *Timeline {
		cr := &Credentials{Fault: f}
		if rot {
			cr.Rotation = &Rotation{Lifetime: "6h", Interval: "1h"}
		}
		tl := compile(t, Spec{}, Params{Role: "web", IAM: cr, Seed: seed})
		tl.Request(first)
		return tl
	}
	for _, rot := range []bool{false, true} {
		tl := fault("expired", rot)
		for _, d := range []time.Duration{0, time.Minute, 5 * time.Hour} {
			s, _ := tl.Credentials(a.Add(d))
			if !s.Expiration.Before(a.Add(d)) || s.Code != "Success" {
				t.Errorf("expired (rotation %v) at +%v: %+v", rot, d, s)
			}
		}
		if tr := tl.Transitions(first, a.Add(5*time.Hour)); len(tr) != 0 {
			t.Errorf("expired credentials rotate: %v", tr)
		}

		tl = fault("expiring", rot)
		for d := time.Duration(0); d < 2*time.Hour; d += 30 * time.Second {
			now := a.Add(d)
			s, _ := tl.Credentials(now)
			if left := s.Expiration.Sub(now); left >= 10*time.Minute || left <= RotationLead {
				t.Fatalf("expiring (rotation %v) at +%v: %v left", rot, d, left)
			}
			if s2, _ := tl.Credentials(now.Add(time.Second)); s2.LastUpdated.Equal(s.LastUpdated) && s2 != s {
				t.Fatal("expiring: a set changed within its interval")
			}
		}
	}
	s, _ := fault("error", false).Credentials(a)
	want := "{\n  \"Code\" : \"AssumeRoleUnauthorizedAccess\",\n  \"Message\" : \"EC2 cannot assume the role web.  Please see documentation at http://docs.amazonwebservices.com/IAM/latest/UserGuide/RolesTroubleshooting.html.\",\n  \"LastUpdated\" : \"2026-12-03T10:00:06Z\"\n}"
	if got := string(s.Document("a", "b", "c")); got != want {
		t.Errorf("error document =\n%s\nwant\n%s", got, want)
	}
	if info := string(s.InfoDocument("arn", "id")); !strings.Contains(info, `"Code" : "Success"`) {
		t.Errorf("iam/info with the error fault = %s", info)
	}
	if s, _ := fault("detached", true).Credentials(a); !s.Detached || s.Code != "Success" {
		t.Errorf("detached = %+v", s)
	}
}
