package token

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wire is the token format of the reference (§3.2, checklist #1).
var wire = regexp.MustCompile(`^[A-Za-z0-9_-]{54}==$`)

// alphabet is every character a token may contain before its padding.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

var (
	guestA = []byte{10, 0, 0, 10}
	guestB = []byte{10, 0, 0, 11}
	epoch  = time.Date(2025, 7, 30, 23, 22, 4, 123456789, time.UTC)
)

// fixedKey returns a key of n bytes whose value depends on seed.
func fixedKey(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

// clock is a settable time source for WithClock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newSealer returns a Sealer under a fixed key reading the time from the
// returned clock, which starts at epoch.
func newSealer(t testing.TB, seed byte) (*Sealer, *clock) {
	t.Helper()
	s, err := New(fixedKey(KeySize, seed))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := &clock{t: epoch}
	return s.WithClock(c.now), c
}

func TestRoundTrip(t *testing.T) {
	s, c := newSealer(t, 1)
	bindings := []struct {
		name    string
		binding []byte
	}{
		{"ipv4", guestA},
		{"ipv6", bytes.Repeat([]byte{0xfd}, 16)},
		{"empty", nil},
		{"long", []byte("[fd00:ec2::254%vtnet0]:31337 guest-with-a-long-name")},
	}
	for _, b := range bindings {
		for _, ttl := range []time.Duration{time.Second, 300 * time.Second, 900 * time.Second, MaxTTL} {
			t.Run(b.name+"/"+ttl.String(), func(t *testing.T) {
				c.t = epoch
				tok := s.Mint(ttl, b.binding)
				left, err := s.Verify(tok, b.binding)
				if err != nil {
					t.Fatalf("Verify(Mint(%v)) = %v, want nil", ttl, err)
				}
				if left != ttl {
					t.Errorf("remaining at issue = %v, want %v", left, ttl)
				}
			})
		}
	}
}

func TestWireFormat(t *testing.T) {
	s, err := NewRandom()
	if err != nil {
		t.Fatalf("NewRandom: %v", err)
	}
	seen := map[string]bool{}
	for i := range 200 {
		tok := s.Mint(21600*time.Second, guestA)
		if !wire.MatchString(tok) {
			t.Fatalf("token %d = %q, does not match %s", i, tok, wire)
		}
		if len(tok) != Len || Len != 56 {
			t.Fatalf("len(token) = %d, Len = %d, want 56", len(tok), Len)
		}
		if !strings.HasPrefix(tok, "AQAEA") {
			t.Fatalf("token %q does not start with AQAEA (bytes 01 00 04 00)", tok)
		}
		raw, err := base64.URLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 40 {
			t.Fatalf("token %q: decoded %d bytes, err %v; want 40 bytes", tok, len(raw), err)
		}
		if !bytes.Equal(raw[:4], []byte{1, 0, 4, 0}) {
			t.Fatalf("token %q starts % x, want 01 00 04 00", tok, raw[:4])
		}
		if seen[tok] {
			t.Fatalf("token %q minted twice", tok)
		}
		seen[tok] = true
	}
}

func TestExpiry(t *testing.T) {
	s, c := newSealer(t, 2)
	tok := s.Mint(time.Second, guestA)
	tests := []struct {
		after   time.Duration
		left    time.Duration
		wantErr error
	}{
		{0, time.Second, nil},
		{500 * time.Millisecond, 500 * time.Millisecond, nil},
		{999 * time.Millisecond, time.Millisecond, nil},
		{time.Second - time.Nanosecond, time.Nanosecond, nil},
		{time.Second, 0, ErrExpired},
		{1100 * time.Millisecond, 0, ErrExpired},
		{MaxTTL, 0, ErrExpired},
		// A clock that steps back before issue does not make the token invalid.
		{-time.Minute, time.Minute + time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.after.String(), func(t *testing.T) {
			c.t = epoch.Add(tt.after)
			left, err := s.Verify(tok, guestA)
			if !errors.Is(err, tt.wantErr) || left != tt.left {
				t.Errorf("Verify at +%v = (%v, %v), want (%v, %v)", tt.after, left, err, tt.left, tt.wantErr)
			}
		})
	}
}

func TestRemainingCountsDown(t *testing.T) {
	s, c := newSealer(t, 3)
	tok := s.Mint(MaxTTL, guestA)
	for _, after := range []time.Duration{0, 25 * time.Second, time.Hour, MaxTTL - time.Second} {
		c.t = epoch.Add(after)
		left, err := s.Verify(tok, guestA)
		if err != nil {
			t.Fatalf("Verify at +%v: %v", after, err)
		}
		if want := MaxTTL - after; left != want {
			t.Errorf("remaining at +%v = %v, want %v", after, left, want)
		}
	}
}

func TestNonPositiveTTL(t *testing.T) {
	s, _ := newSealer(t, 4)
	for _, ttl := range []time.Duration{0, -time.Second} {
		if left, err := s.Verify(s.Mint(ttl, guestA), guestA); !errors.Is(err, ErrExpired) {
			t.Errorf("Verify(Mint(%v)) = (%v, %v), want ErrExpired", ttl, left, err)
		}
	}
}

func TestTamper(t *testing.T) {
	s, _ := newSealer(t, 5)
	tok := s.Mint(MaxTTL, guestA)
	// Every position, every other character of the alphabet plus a few
	// outside it: never accepted, always one of the two rejections.
	others := alphabet + "=+/. \n\r\x00\xff"
	tried := 0
	for i := range len(tok) {
		for j := range len(others) {
			c := others[j]
			if c == tok[i] {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			left, err := s.Verify(bad, guestA)
			if err == nil {
				t.Fatalf("tampered token %q (position %d %q -> %q) accepted with %v left", bad, i, tok[i], c, left)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("tampered token %q (position %d): err = %v, want ErrInvalid or ErrMalformed", bad, i, err)
			}
			tried++
		}
	}
	if want := len(tok) * (len(others) - 1); tried != want {
		t.Errorf("tried %d variants, want %d", tried, want)
	}
}

// TestLastDigitBits checks the case base64 decoders forgive: the last
// digit before "==" carries 4 unused bits, so 15 other digits decode to the
// same 40 bytes unless decoding is strict.
func TestLastDigitBits(t *testing.T) {
	s, _ := newSealer(t, 6)
	tok := s.Mint(MaxTTL, guestA)
	raw, err := base64.URLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	aliases := 0
	for j := range len(alphabet) {
		bad := tok[:53] + alphabet[j:j+1] + tok[54:]
		if bad == tok {
			continue
		}
		if d, err := base64.URLEncoding.DecodeString(bad); err == nil && bytes.Equal(d, raw) {
			aliases++
			if left, err := s.Verify(bad, guestA); !errors.Is(err, ErrMalformed) {
				t.Errorf("alias %q of %q: Verify = (%v, %v), want ErrMalformed", bad, tok, left, err)
			}
		}
	}
	if aliases != 15 {
		t.Errorf("found %d lenient aliases of the last digit, want 15 (is the test still exercising the case?)", aliases)
	}
}

func TestWrongBinding(t *testing.T) {
	s, _ := newSealer(t, 7)
	tests := []struct {
		name          string
		minted, given []byte
	}{
		{"other guest", guestA, guestB},
		{"prefix", guestA, guestA[:3]},
		{"longer", guestA, append(append([]byte{}, guestA...), 0)},
		{"none given", guestA, nil},
		{"none minted", nil, guestA},
		{"ipv4-mapped", guestA, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := s.Mint(MaxTTL, tt.minted)
			if left, err := s.Verify(tok, tt.given); !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify bound to % x with % x = (%v, %v), want ErrInvalid", tt.minted, tt.given, left, err)
			}
		})
	}
}

func TestOtherKey(t *testing.T) {
	s1, _ := newSealer(t, 8)
	s2, _ := newSealer(t, 9)
	tok := s1.Mint(MaxTTL, guestA)
	if left, err := s2.Verify(tok, guestA); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of another key: Verify = (%v, %v), want ErrInvalid", left, err)
	}
	r, err := NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	if left, err := r.Verify(tok, guestA); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of another key (random): Verify = (%v, %v), want ErrInvalid", left, err)
	}
	// A restarted daemon with a fresh random key rejects old tokens.
	r2, err := NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	if left, err := r2.Verify(r.Mint(MaxTTL, guestA), guestA); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of a previous random key: Verify = (%v, %v), want ErrInvalid", left, err)
	}
}

func TestMalformed(t *testing.T) {
	s, _ := newSealer(t, 10)
	tok := s.Mint(MaxTTL, guestA)
	raw, _ := base64.URLEncoding.DecodeString(tok)
	reheader := func(h ...byte) string {
		r := append([]byte{}, raw...)
		copy(r, h)
		return base64.URLEncoding.EncodeToString(r)
	}
	// In the standard alphabet, with at least one character that only it
	// has (a random token may hold no "-" or "_" to replace).
	std := []byte(strings.NewReplacer("-", "+", "_", "/").Replace(tok[:54]))
	std[7] = '+'
	tests := []struct {
		name, tok string
	}{
		{"empty", ""},
		{"short by one", tok[:Len-1]},
		{"long by one", tok + "="},
		{"trailing newline", tok + "\n"},
		{"leading space", " " + tok},
		{"unpadded", strings.TrimRight(tok, "=")},
		{"unpadded 54+2 digits", tok[:54] + "AA"},
		{"one pad", tok[:55] + "A"},
		{"standard alphabet", string(std) + "=="},
		{"newline inside", tok[:20] + "\n" + tok[21:]},
		{"CRLF inside", tok[:20] + "\r\n" + tok[22:]},
		{"raw bytes", string(raw) + strings.Repeat("A", Len-len(raw))},
		{"all A", strings.Repeat("A", 54) + "=="},
		{"all pad", strings.Repeat("=", Len)},
		{"pad in middle", tok[:10] + "==" + tok[12:]},
		{"header 2023", reheader(1, 0, 0, 0)},
		{"header v2", reheader(2, 0, 4, 0)},
		{"42 bytes", base64.URLEncoding.EncodeToString(append(append([]byte{}, raw...), 0, 0))[:Len]},
		{"non-ASCII", strings.Repeat("é", 27) + "=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tok == tok {
				t.Fatal("test case equals the valid token")
			}
			if left, err := s.Verify(tt.tok, guestA); !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify(%q) = (%v, %v), want ErrMalformed", tt.tok, left, err)
			}
		})
	}
}

// mintFixed is Mint with a fixed nonce, built from the format's parts
// rather than by calling Mint, so it also cross-checks the layout.
func mintFixed(s *Sealer, ttl time.Duration, binding []byte, nonceByte byte) string {
	var raw [rawLen]byte
	copy(raw[:], []byte{1, 0, 4, 0})
	nonce := bytes.Repeat([]byte{nonceByte}, nonceLen)
	copy(raw[hdrLen:], nonce)
	var body [bodyLen]byte
	binary.BigEndian.PutUint64(body[:], uint64(s.now().Add(ttl).UnixNano()))
	aad := append([]byte{1, 0, 4, 0}, binding...)
	s.aead.Seal(raw[hdrLen+nonceLen:hdrLen+nonceLen], nonce, body[:], aad)
	return base64.URLEncoding.EncodeToString(raw[:])
}

// TestKnownAnswer pins the wire format: a fixed key, nonce, clock and
// binding give a fixed token, which Verify accepts.
func TestKnownAnswer(t *testing.T) {
	s, _ := newSealer(t, 14)
	const want = "AQAEAFpaWlpaWlpaWlpaWjGysGEV7d7WE0wag46BNm4YLsKnx_Enqw=="
	tok := mintFixed(s, MaxTTL, guestA, 0x5a)
	if tok != want {
		t.Errorf("token = %q, want %q", tok, want)
	}
	left, err := s.Verify(tok, guestA)
	if err != nil || left != MaxTTL {
		t.Errorf("Verify(%q) = (%v, %v), want (%v, nil)", tok, left, err, MaxTTL)
	}
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		s, err := New(fixedKey(n, 1))
		if err == nil || s != nil {
			t.Errorf("New(%d-byte key) = (%v, %v), want an error", n, s, err)
			continue
		}
		if want := "token key is"; !strings.Contains(err.Error(), want) {
			t.Errorf("New(%d-byte key) error %q does not contain %q", n, err, want)
		}
	}
	if _, err := New(fixedKey(KeySize, 1)); err != nil {
		t.Errorf("New(%d-byte key) = %v, want nil", KeySize, err)
	}
}

func TestSameKeySameSealer(t *testing.T) {
	// Two Sealers on one key (a daemon and its reloaded self) accept each
	// other's tokens.
	s1, _ := newSealer(t, 11)
	s2, _ := newSealer(t, 11)
	if _, err := s2.Verify(s1.Mint(MaxTTL, guestA), guestA); err != nil {
		t.Errorf("token of the same key: %v", err)
	}
}

func TestWithClockCopies(t *testing.T) {
	s, err := New(fixedKey(KeySize, 12))
	if err != nil {
		t.Fatal(err)
	}
	late := s.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	tok := s.Mint(time.Hour, guestA)
	if _, err := s.Verify(tok, guestA); err != nil {
		t.Errorf("original Sealer: Verify = %v, want nil (WithClock must not change it)", err)
	}
	if _, err := late.Verify(tok, guestA); !errors.Is(err, ErrExpired) {
		t.Errorf("Sealer two hours ahead: Verify = %v, want ErrExpired", err)
	}
}

func TestConcurrent(t *testing.T) {
	s, err := NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for g := range 8 {
		go func() {
			b := []byte{10, 0, 0, byte(g)}
			for range 200 {
				if _, err := s.Verify(s.Mint(time.Minute, b), b); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := newSealer(f, 13)
	// Fuzz workers are separate processes: the seed token must be the
	// same in each, so it is sealed with a fixed nonce.
	tok := mintFixed(s, MaxTTL, guestA, 0x5a)
	valid := tok
	f.Add(tok, []byte(guestA))
	f.Add(tok[:55]+"A", []byte(guestA))
	// The same 40 bytes spelled with other unused bits in the last digit.
	alias := alphabet[strings.IndexByte(alphabet, tok[53])^1]
	f.Add(tok[:53]+string(alias)+"==", []byte(guestA))
	f.Add(strings.Repeat("A", 54)+"==", []byte(nil))
	f.Add("AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==", []byte{127, 0, 0, 1})
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, tok string, binding []byte) {
		left, err := s.Verify(tok, binding)
		if err == nil {
			// The only token that opens is the one minted above, for
			// guestA; the fuzzer cannot forge another.
			if tok == valid && bytes.Equal(binding, guestA) {
				return
			}
			t.Fatalf("Verify(%q, % x) accepted a token it did not mint (%v left)", tok, binding, left)
		}
		if left != 0 {
			t.Errorf("Verify(%q) returned %v left with error %v", tok, left, err)
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
			t.Errorf("Verify(%q) = %v, not one of the package's errors", tok, err)
		}
		if !wire.MatchString(tok) && !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v; a token not of the wire shape must be ErrMalformed", tok, err)
		}
	})
}

func BenchmarkMint(b *testing.B) {
	s, err := NewRandom()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Mint(MaxTTL, guestA)
	}
}

func BenchmarkVerify(b *testing.B) {
	s, err := NewRandom()
	if err != nil {
		b.Fatal(err)
	}
	tok := s.Mint(MaxTTL, guestA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, guestA); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyMalformed(b *testing.B) {
	s, err := NewRandom()
	if err != nil {
		b.Fatal(err)
	}
	tok := strings.Repeat("!", Len)
	b.ReportAllocs()
	for b.Loop() {
		s.Verify(tok, guestA)
	}
}

// BenchmarkMillionMints reports how much the live heap grows over 1,000,000
// mints (heap-B): tokens are sealed, not stored, so it should stay near 0.
// A figure, not a test: run it with make bench.
func BenchmarkMillionMints(b *testing.B) {
	s, err := NewRandom()
	if err != nil {
		b.Fatal(err)
	}
	binding := []byte{10, 0, 0, 11, 0}
	var before, after runtime.MemStats
	for i := 0; i < b.N; i++ {
		runtime.GC()
		runtime.ReadMemStats(&before)
		for j := 0; j < 1_000_000; j++ {
			s.Mint(time.Minute, binding)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "heap-B")
}

// TestDerive checks that derived secrets depend on the key and the purpose
// only: the same after a restart with the same key, different otherwise.
func TestDerive(t *testing.T) {
	key := make([]byte, KeySize)
	a, _ := New(key)
	b, _ := New(key)
	key[0] = 1
	c, _ := New(key)
	if x, y := a.Derive("p"), b.WithClock(time.Now).Derive("p"); string(x) != string(y) || len(x) != 32 {
		t.Errorf("same key, same purpose: %x and %x, want the same 32 bytes", x, y)
	}
	if string(a.Derive("p")) == string(a.Derive("q")) || string(a.Derive("p")) == string(c.Derive("p")) {
		t.Error("another purpose or another key gives the same secret")
	}
}
