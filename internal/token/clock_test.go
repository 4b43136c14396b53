package token

import (
	"testing"
	"time"
)

// TestClockSetBack: setting the host's clock back does not lengthen a
// token; its life is measured on the monotonic clock (issue 10, item 9).
func TestClockSetBack(t *testing.T) {
	key := make([]byte, KeySize)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	// The host: a wall clock the administrator sets, and the monotonic
	// time since the Sealer was made, which nobody sets.
	wall := time.Unix(1_700_000_000, 0)
	var mono time.Duration
	s.now = steadyClock(wall, func() time.Duration { return mono })
	bind := []byte("10.0.0.11")

	tok := s.Mint(60*time.Second, bind)
	// Setting the host clock back now changes nothing the Sealer reads: it
	// read the wall clock once, when it was made; only the monotonic time
	// moves on.
	mono += 10 * time.Second
	left, err := s.Verify(tok, bind)
	if err != nil || left != 50*time.Second {
		t.Fatalf("after setting the clock back: left %v, %v; want 50s", left, err)
	}
	mono += 50 * time.Second
	if _, err := s.Verify(tok, bind); err != ErrExpired {
		t.Fatalf("after its TTL on the monotonic clock: %v, want ErrExpired", err)
	}
}

// TestDefaultClockMonotonic: a new Sealer's clock follows the monotonic
// clock from the wall time it started at.
func TestDefaultClockMonotonic(t *testing.T) {
	before := time.Now()
	s, err := New(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := s.now()
	if now.Before(before.Round(0).Add(-time.Second)) || now.After(time.Now().Add(time.Second)) {
		t.Fatalf("the default clock reads %v, not about now", now)
	}
	if left, err := s.Verify(s.Mint(time.Minute, nil), nil); err != nil || left > time.Minute || left < 59*time.Second {
		t.Fatalf("a fresh token has %v left (%v), want about a minute", left, err)
	}
}
