package imdsclient

import (
	"context"
	"time"
)

// SetClock replaces the clock a Client uses to decide when to renew its
// token.
func SetClock(c *Client, now func() time.Time) { c.now = now }

// NoBackoff makes retries immediate.
func NoBackoff(c *Client) {
	c.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
}
