package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxCrawl bounds the requests of one crawl, and maxDepth its nesting, in
// case a tree lists itself.
const (
	maxCrawl = 2000
	maxDepth = 16
)

// crawler is one guest booting: it takes a token and reads everything, as
// cloud-init does: the whole meta-data tree, user-data and the instance
// identity document. Unlike cloud-init it reads the role's credentials too.
type crawler struct {
	c     *client
	host  string
	token string
	n     int      // requests made
	errs  int      // requests that failed or did not answer 200
	first error    // the first failure
	paths []string // paths fetched with 200, below /latest/; nil unless record
	// record keeps paths, for tests.
	record bool
}

// crawl is the whole boot-time conversation. It returns an error only when
// the context ends; failed requests are counted.
func (g *crawler) crawl(ctx context.Context) error {
	tok, err := mintToken(ctx, g.c, g.host)
	g.n++
	if err != nil {
		g.fail(err)
		return ctx.Err()
	}
	g.token = tok
	if body, ok := g.get(ctx, "meta-data/"); ok {
		g.walk(ctx, "meta-data/", body, 0)
	}
	g.get(ctx, "user-data")
	g.get(ctx, "dynamic/instance-identity/document")
	return ctx.Err()
}

func (g *crawler) fail(err error) {
	if g.errs++; g.first == nil {
		g.first = err
	}
}

// get fetches rel below /latest/ and returns the body of a 200 answer.
func (g *crawler) get(ctx context.Context, rel string) (string, bool) {
	if ctx.Err() != nil {
		return "", false
	}
	if g.n >= maxCrawl {
		g.fail(fmt.Errorf("more than %d requests; does the tree list itself?", maxCrawl))
		return "", false
	}
	g.n++
	path := "/latest/" + rel
	st, body, err := g.c.do(ctx, getRequest(g.host, path, g.token))
	if err == nil && st != 200 {
		err = fmt.Errorf("status %d, want 200", st)
	}
	if err != nil {
		g.fail(fmt.Errorf("GET %s: %w", path, err))
		return "", false
	}
	if g.record {
		g.paths = append(g.paths, strings.TrimSuffix(rel, "/"))
	}
	return string(body), true
}

// walk fetches everything the listing body of dir (ending in "/") names:
// "name/" is a directory, read and walked in turn; "N=name" in public-keys/
// is the key N/openssh-key; anything else is a leaf.
func (g *crawler) walk(ctx context.Context, dir, body string, depth int) {
	if depth >= maxDepth {
		g.fail(fmt.Errorf("%s is nested more than %d deep", dir, maxDepth))
		return
	}
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSpace(line)
		name := strings.TrimSuffix(line, "/")
		if name == "" {
			continue
		}
		if strings.HasSuffix(line, "/") {
			sub := dir + url.PathEscape(name) + "/"
			if b, ok := g.get(ctx, sub); ok {
				g.walk(ctx, sub, b, depth+1)
			}
			continue
		}
		if n, _, ok := strings.Cut(name, "="); ok {
			if _, err := strconv.Atoi(n); err == nil {
				g.get(ctx, dir+n+"/openssh-key")
				continue
			}
		}
		g.get(ctx, dir+url.PathEscape(name))
	}
}

// stormResult is what a boot storm measured.
type stormResult struct {
	guests   int
	requests int
	errs     int
	failed   int // guests with at least one failed request
	firstErr error
	total    time.Duration   // from the start to the last guest done
	lat      []time.Duration // per-guest time, token and crawl, sorted
}

// bootStorm starts guests crawlers at once against the server at addr and
// waits for all of them.
func bootStorm(ctx context.Context, addr string, guests, sources int) (stormResult, error) {
	if guests < 1 {
		return stormResult{}, errors.New("no guests")
	}
	gs := make([]*crawler, guests)
	for i := range gs {
		gs[i] = &crawler{c: newClient(addr, sourceAddr(i, sources)), host: addr}
	}
	lat := make([]time.Duration, guests)
	var wg sync.WaitGroup
	startc := make(chan struct{})
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startc
			t0 := time.Now()
			_ = g.crawl(ctx)
			lat[i] = time.Since(t0)
		}()
	}
	start := time.Now()
	close(startc)
	wg.Wait()
	r := stormResult{guests: guests, total: time.Since(start), lat: lat}
	slices.Sort(r.lat)
	for _, g := range gs {
		r.requests += g.n
		r.errs += g.errs
		if g.errs > 0 {
			r.failed++
			if r.firstErr == nil {
				r.firstErr = g.first
			}
		}
	}
	return r, ctx.Err()
}
