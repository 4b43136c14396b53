// Package token mints and verifies IMDSv2 session tokens without storing
// them.
//
// A token is sealed, in the manner of Firecracker's MMDS: its expiry time is
// encrypted and authenticated with AES-256-GCM under a key only the daemon
// holds, and the guest it was issued to (its source address, later its
// instance) is bound in as associated data. Verifying needs nothing but the
// key, so a million tokens cost no memory, a token cannot be forged or
// stretched, and a token taken to another guest does not open.
//
// The wire form matches EC2's: 40 bytes, base64url with padding, 56
// characters, starting with the version bytes 01 00 04 00 ("AQAEA...").
package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Sizes of the token and its parts.
const (
	KeySize = 32 // AES-256
	Len     = 56 // characters on the wire

	rawLen   = 40
	hdrLen   = 4
	nonceLen = 12
	bodyLen  = 8 // expiry, Unix nanoseconds
)

// MaxTTL is the longest lifetime EC2 grants a token: six hours.
const MaxTTL = 21600 * time.Second

var header = [hdrLen]byte{0x01, 0x00, 0x04, 0x00}

// Errors returned by [Sealer.Verify].
var (
	ErrMalformed = errors.New("token is malformed")
	ErrInvalid   = errors.New("token was not issued by this service to this client")
	ErrExpired   = errors.New("token has expired")
)

// Sealer mints and verifies tokens under one key. It is safe for concurrent
// use.
type Sealer struct {
	aead cipher.AEAD
	now  func() time.Time
	seed [32]byte // a key of its own for Derive, made from the token key
}

// New returns a Sealer for a 32-byte key. Its clock is the wall clock as
// it was when New was called, moved on by the monotonic clock: setting the
// host's clock back does not lengthen the tokens it mints, which never
// have more left than their TTL. Tokens sealed before a restart with the
// same key are judged against that clock too, so for them a clock set
// back between the two processes does lengthen their life.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("token key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	sl := &Sealer{aead: aead, now: steadyClock(start, func() time.Duration { return time.Since(start) })}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("imdsd derived secrets"))
	m.Sum(sl.seed[:0])
	return sl, nil
}

// steadyClock returns the clock a Sealer reads by default: the wall clock
// as it was at start, moved on by the monotonic clock (elapsed, the time
// since start). Setting the host's clock back or forth does not move it,
// so a token minted by this process never has more left than its TTL;
// a token minted before a restart (with token_key_file) is judged by the
// wall clock as it was when this process started, plus the time since.
func steadyClock(start time.Time, elapsed func() time.Duration) func() time.Time {
	start = start.Round(0) // the wall reading only; elapsed is the monotonic part
	return func() time.Time { return start.Add(elapsed()) }
}

// NewRandom returns a Sealer with a fresh random key: tokens it mints die
// with it.
func NewRandom() (*Sealer, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return New(key)
}

// WithClock returns a copy of s that reads the time from now, for tests.
// Without it a Sealer measures time on the monotonic clock from when it
// was made (see New), not on the wall clock, which an administrator can
// set back.
func (s *Sealer) WithClock(now func() time.Time) *Sealer {
	c := *s
	c.now = now
	return &c
}

// Derive returns a secret for purpose, derived from the token key (HMAC-
// SHA256, under a key of its own made from the token key): the same for the
// same key and purpose, so what is made from it survives a restart with
// token_key_file, and useless for minting or opening tokens.
func (s *Sealer) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, s.seed[:])
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Mint returns a token valid for ttl from now, only for the given binding
// (the identity of the client that asked for it). A ttl of zero or less
// gives a token that is already expired; callers bound ttl to [MaxTTL].
func (s *Sealer) Mint(ttl time.Duration, binding []byte) string {
	// One scratch value holds everything the AEAD sees: passing slices
	// through the cipher.AEAD interface moves them to the heap, so keeping
	// them together costs one allocation instead of three.
	sc := new(scratch)
	raw := sc.raw[:rawLen]
	copy(raw[:hdrLen], header[:])
	nonce := raw[hdrLen : hdrLen+nonceLen]
	if _, err := rand.Read(nonce); err != nil {
		panic("token: reading random nonce: " + err.Error()) // crypto/rand never fails on supported systems
	}
	binary.BigEndian.PutUint64(sc.body[:], uint64(s.now().Add(ttl).UnixNano()))
	s.aead.Seal(raw[hdrLen+nonceLen:hdrLen+nonceLen], nonce, sc.body[:], sc.aad(binding))
	var out [Len]byte
	encoding.Encode(out[:], raw)
	return string(out[:])
}

// Verify checks that tok was minted by s for binding and has not expired,
// and returns how long it has left. Only the exact string Mint returned is
// accepted: a token that differs in any character, including the unused
// low bits of the last base64 digit, is ErrMalformed or ErrInvalid.
func (s *Sealer) Verify(tok string, binding []byte) (time.Duration, error) {
	if len(tok) != Len || tok[Len-2:] != "==" {
		return 0, ErrMalformed
	}
	// The base64 decoder skips CR and LF and, unless strict, ignores the
	// unused bits of the last digit; check the alphabet here so that one
	// token has exactly one spelling.
	var src [Len]byte
	for i := range Len - 2 {
		c := tok[i]
		if !inAlphabet(c) {
			return 0, ErrMalformed
		}
		src[i] = c
	}
	src[Len-2], src[Len-1] = '=', '='
	sc := new(scratch)
	n, err := encoding.Decode(sc.raw[:], src[:])
	if err != nil || n != rawLen || [hdrLen]byte(sc.raw[:hdrLen]) != header {
		return 0, ErrMalformed
	}
	raw := sc.raw[:rawLen]
	nonce := raw[hdrLen : hdrLen+nonceLen]
	if _, err := s.aead.Open(sc.body[:0], nonce, raw[hdrLen+nonceLen:], sc.aad(binding)); err != nil {
		return 0, ErrInvalid
	}
	left := time.Unix(0, int64(binary.BigEndian.Uint64(sc.body[:]))).Sub(s.now())
	if left <= 0 {
		return 0, ErrExpired
	}
	return left, nil
}

// encoding is the wire encoding: base64url with padding, strict about the
// unused bits of the last digit.
var encoding = base64.URLEncoding.Strict()

func inAlphabet(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// scratch is the working memory of one Mint or Verify.
type scratch struct {
	raw    [rawLen + 2]byte // DecodedLen(Len) is 42: room for the padding
	body   [bodyLen]byte
	aadBuf [hdrLen + 16]byte // header and an IPv6 address fit without growing
}

// aad is the associated data: the header, then the binding.
func (sc *scratch) aad(binding []byte) []byte {
	return append(append(sc.aadBuf[:0], header[:]...), binding...)
}
