package bench

import (
	"context"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/pkg/config"
)

// loadBenchConfig is the configuration imdsbench gives imdsd.
func loadBenchConfig(t *testing.T) *config.Config {
	t.Helper()
	b, err := benchConfig()
	if err != nil {
		t.Fatalf("benchConfig: %v", err)
	}
	cfg, _, err := config.Parse("bench", b)
	if err != nil {
		t.Fatalf("parsing benchConfig: %v", err)
	}
	return cfg
}

func TestBenchConfig(t *testing.T) {
	cfg := loadBenchConfig(t)
	if !cfg.TokensRequired() {
		t.Error("tokens are optional, want required")
	}
	if cfg.IAM == nil || cfg.IAM.Role == "" {
		t.Errorf("IAM = %+v, want an instance profile with a role", cfg.IAM)
	}
	if def := config.Default(); cfg.InstanceID != def.InstanceID || len(cfg.PublicKeys()) != len(def.PublicKeys()) {
		t.Errorf("instance %s with %d keys, want the default's %s with %d",
			cfg.InstanceID, len(cfg.PublicKeys()), def.InstanceID, len(def.PublicKeys()))
	}
}

// keyDir matches the public-keys/N directories, which cloud-init (and the
// crawler) skip: the listing's "N=name" leads straight to N/openssh-key.
var keyDir = regexp.MustCompile(`^meta-data/public-keys/[0-9]+$`)

// crawlable is what a whole crawl must fetch from a tree: all of meta-data
// but the key directories, user-data and the identity document.
func crawlable(tree *metadata.Tree) []string {
	var want []string
	for _, p := range tree.Paths() {
		switch {
		case p == "user-data", p == "dynamic/instance-identity/document":
		case p != "meta-data" && !strings.HasPrefix(p, "meta-data/"), keyDir.MatchString(p):
			continue
		}
		want = append(want, p)
	}
	return want
}

func TestCrawlFindsEveryPath(t *testing.T) {
	tests := []struct {
		name string
		cfg  *config.Config
	}{
		{"default", config.Default()},
		{"bench with iam", loadBenchConfig(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startServer(t, tt.cfg)
			g := &crawler{c: newClient(addr, netip.Addr{}), host: addr, record: true}
			if err := g.crawl(context.Background()); err != nil {
				t.Fatalf("crawl: %v", err)
			}
			if g.errs != 0 {
				t.Fatalf("%d requests failed, first: %v", g.errs, g.first)
			}
			got := slices.Clone(g.paths)
			slices.Sort(got)
			if d := slices.Compact(slices.Clone(got)); len(d) != len(got) {
				t.Errorf("crawl fetched some paths twice: %d fetches of %d paths", len(got), len(d))
			}
			want := crawlable(metadata.Build(&tt.cfg.Instance, time.Now()))
			if !slices.Equal(got, want) {
				t.Errorf("crawl fetched\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
			if g.n != len(want)+1 {
				t.Errorf("%d requests, want %d: the token and one per path", g.n, len(want)+1)
			}
			if tt.cfg.IAM != nil && !slices.Contains(got, "meta-data/iam/security-credentials/"+tt.cfg.IAM.Role) {
				t.Errorf("crawl skipped the role's credentials")
			}
		})
	}
}

func TestCrawlCountsFailures(t *testing.T) {
	// The baseline answers every GET with one value: a listing of one leaf.
	addr := startBaseline(t)
	g := &crawler{c: newClient(addr, netip.Addr{}), host: addr, record: true}
	if err := g.crawl(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"meta-data", "meta-data/" + baselineValue, "user-data", "dynamic/instance-identity/document"}
	if g.errs != 0 || !slices.Equal(g.paths, want) {
		t.Errorf("crawl of the baseline: %d errors (%v), paths %q; want 0 and %q", g.errs, g.first, g.paths, want)
	}
	// A crawl with a token that does not open fails on every GET.
	srv := startServer(t, config.Default())
	g = &crawler{c: newClient(srv, netip.Addr{}), host: srv, token: "bad"}
	if _, ok := g.get(context.Background(), "meta-data/"); ok || g.errs != 1 || !strings.Contains(g.first.Error(), "status 401") {
		t.Errorf("GET with a bad token: ok %v, %d errors, first %v; want false, 1, status 401", ok, g.errs, g.first)
	}
}

func TestBootStorm(t *testing.T) {
	cfg := loadBenchConfig(t)
	addr := startServer(t, cfg)
	const guests = 8
	r, err := bootStorm(context.Background(), addr, guests, 1)
	if err != nil {
		t.Fatalf("bootStorm: %v", err)
	}
	perGuest := len(crawlable(metadata.Build(&cfg.Instance, time.Now()))) + 1
	if r.errs != 0 || r.failed != 0 {
		t.Errorf("%d requests of %d guests failed, first: %v", r.errs, r.failed, r.firstErr)
	}
	if r.guests != guests || r.requests != guests*perGuest || len(r.lat) != guests {
		t.Errorf("%d guests, %d requests, %d times; want %d, %d, %d", r.guests, r.requests, len(r.lat), guests, guests*perGuest, guests)
	}
	if !slices.IsSorted(r.lat) || r.lat[0] <= 0 || r.lat[guests-1] > r.total {
		t.Errorf("guest times %v, total %v: want sorted, positive, within the total", r.lat, r.total)
	}
}
