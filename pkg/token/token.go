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
	"crypto/rand"
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
}

// New returns a Sealer for a 32-byte key.
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
	return &Sealer{aead: aead, now: time.Now}, nil
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
func (s *Sealer) WithClock(now func() time.Time) *Sealer {
	c := *s
	c.now = now
	return &c
}

// Mint returns a token valid for ttl from now, only for the given binding
// (the identity of the client that asked for it).
func (s *Sealer) Mint(ttl time.Duration, binding []byte) string {
	var raw [rawLen]byte
	copy(raw[:hdrLen], header[:])
	nonce := raw[hdrLen : hdrLen+nonceLen]
	if _, err := rand.Read(nonce); err != nil {
		panic("token: reading random nonce: " + err.Error()) // crypto/rand never fails on supported systems
	}
	var body [bodyLen]byte
	binary.BigEndian.PutUint64(body[:], uint64(s.now().Add(ttl).UnixNano()))
	s.aead.Seal(raw[hdrLen+nonceLen:hdrLen+nonceLen], nonce, body[:], aad(binding))
	return base64.URLEncoding.EncodeToString(raw[:])
}

// Verify checks that tok was minted by s for binding and has not expired,
// and returns how long it has left.
func (s *Sealer) Verify(tok string, binding []byte) (time.Duration, error) {
	if len(tok) != Len {
		return 0, ErrMalformed
	}
	var raw [rawLen + 2]byte // DecodedLen(56) is 42 before padding is accounted for
	n, err := base64.URLEncoding.Decode(raw[:], []byte(tok))
	if err != nil || n != rawLen || [hdrLen]byte(raw[:hdrLen]) != header {
		return 0, ErrMalformed
	}
	var body [bodyLen]byte
	nonce := raw[hdrLen : hdrLen+nonceLen]
	if _, err := s.aead.Open(body[:0], nonce, raw[hdrLen+nonceLen:rawLen], aad(binding)); err != nil {
		return 0, ErrInvalid
	}
	left := time.Unix(0, int64(binary.BigEndian.Uint64(body[:]))).Sub(s.now())
	if left <= 0 {
		return 0, ErrExpired
	}
	return left, nil
}

func aad(binding []byte) []byte {
	return append(header[:len(header):len(header)], binding...)
}
