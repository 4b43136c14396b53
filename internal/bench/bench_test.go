package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/golden"
	"github.com/imdsd/imdsd/internal/metadata"
)

func TestStatusFields(t *testing.T) {
	status := []byte("Name:\timdsd\nVmPeak:\t 1265028 kB\nVmHWM:\t   18432 kB\nVmRSS:\t    9876 kB\nThreads:\t7\n")
	for _, tt := range []struct {
		name string
		want int64
	}{{"VmHWM", 18432 << 10}, {"VmRSS", 9876 << 10}} {
		v, ok := statusField(status, tt.name)
		if !ok {
			t.Fatalf("statusField(%s): not found", tt.name)
		}
		if got, err := parseKB(v); err != nil || got != tt.want {
			t.Errorf("%s = %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
	if _, ok := statusField(status, "Vm"); ok {
		t.Error("statusField matched a prefix")
	}
	if _, err := parseKB("7"); err == nil {
		t.Error(`parseKB("7"): no error, want one (no unit)`)
	}
}

// TestTable checks the report's layout and judgement against a golden file.
func TestTable(t *testing.T) {
	figs := []figure{
		{Name: "first answer after exec, median of 5", Unit: "ms", IMDSD: num(12.5), Baseline: num(10), check: maxValue, limit: 50},
		{Name: "RSS idle, 1 s after start", Unit: "MB", IMDSD: num(16.04), Baseline: num(8), check: maxValue, limit: 15},
		{Name: "token GET, 16 clients: throughput", Unit: "req/s", IMDSD: num(8000), Baseline: num(10000), check: minRatio, limit: 0.8},
		{Name: "token GET, 16 clients: p50", Unit: "ms", IMDSD: num(0.25), Baseline: num(0.2)},
		{Name: "token GET, 16 clients: p99", Unit: "ms", IMDSD: num(2.1), Baseline: num(1)},
		{Name: "boot storm, 500 guests: failed requests", Unit: "count", IMDSD: num(0), check: maxValue},
		{Name: "slowloris, 16 clients: p99 rise (beside ÷ alone)", Unit: "×", IMDSD: num(1.5), Baseline: num(3), check: maxValue, limit: 2, noRatio: true},
		{Name: "RSS peak, whole run (VmHWM)", Unit: "MB", IMDSD: num(20)},
		{Name: "not measured", Unit: "MB", check: maxValue, limit: 50},
	}
	figs[4].check, figs[4].limit = maxRatio, 2
	for i := range figs {
		figs[i].judge()
	}
	var b bytes.Buffer
	if err := printTable(&b, figs); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "table.golden", b.Bytes())
}

// testOptions are imdsbench's defaults, with self, the test binary (see
// TestMain), standing in for imdsd and for the baseline.
func testOptions(self string) Options {
	o := Options{IMDSD: self, Baseline: []string{self, "baseline"}, Duration: 3 * time.Second,
		Clients: []int{1, 16, 256}, PutClients: 16, Guests: 500, IdleConns: 2000, Sources: 1}
	if ManyLoopback {
		o.Sources = 16
	}
	return o
}

// TestRunEndToEnd runs the whole tool, briefly, with the test binary standing
// in for imdsd (see TestMain) and for the baseline, and checks that every
// figure is there, measured, with no failed request. It asserts no speed.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dozen processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the figures of memory need /proc")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeIMDSDEnv, "1")
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	var out, errOut bytes.Buffer
	o := testOptions(self)
	o.Duration, o.Clients, o.PutClients, o.Guests, o.IdleConns, o.JSONPath = 40*time.Millisecond, []int{1, 3}, 2, 3, 20, jsonPath
	if err := Run(context.Background(), o, &out, &errOut); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	for _, s := range []string{"figure", "first answer after exec", "RSS idle", "token GET, 1 client: p99",
		"token GET, 3 clients: throughput", "RSS peak after 3 GET clients", "token PUT, 2 clients: throughput",
		"boot storm, 3 guests: per-guest p99", "p99 beside 20 idle conns", "failed requests, all load runs",
		"token GET, 3 clients: server CPU per request", "token GET, 3 clients: read/write syscalls per request"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "note:") {
		t.Errorf("output has notes, want none:\n%s", out.String())
	}

	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("--json file: %v\n%s", err, data)
	}
	if rep.Version != "test" || rep.Duration != "40ms" {
		t.Errorf("version %q, duration %q; want test, 40ms", rep.Version, rep.Duration)
	}
	figs := map[string]figure{}
	for _, f := range rep.Figures {
		figs[f.Name] = f
		if f.IMDSD == nil {
			t.Errorf("%s: imdsd not measured", f.Name)
		}
		if strings.HasPrefix(f.Name, "boot storm") != (f.Baseline == nil) {
			t.Errorf("%s: baseline %v; want one for all but the boot storm", f.Name, f.Baseline)
		}
		if f.Unit == "req/s" && (*f.IMDSD <= 0 || *f.Baseline <= 0) {
			t.Errorf("%s: %v and %v, want both above 0", f.Name, *f.IMDSD, *f.Baseline)
		}
	}
	// 23, and CPU and system calls per request for the 2 GET rows.
	if len(figs) != 27 {
		t.Errorf("%d figures, want 27", len(figs))
	}
	for _, name := range []string{"failed requests, all load runs", "boot storm, 3 guests: failed requests"} {
		f := figs[name]
		if f.IMDSD == nil || *f.IMDSD != 0 || f.Pass == nil || !*f.Pass {
			t.Errorf("%s: %+v, want 0 and a pass", name, f)
		}
	}
	perGuest := len(crawlable(metadata.Build(&loadBenchConfig(t).Instance, time.Now()))) + 1
	if f := figs["boot storm, 3 guests: requests"]; f.IMDSD == nil || *f.IMDSD != float64(3*perGuest) {
		t.Errorf("boot storm requests %v, want %d", f.IMDSD, 3*perGuest)
	}
	if f := figs["slowloris: idle conns the server holds open"]; f.IMDSD == nil || *f.IMDSD < 20 || *f.Baseline < 20 {
		t.Errorf("idle connections held: %v and %v, want at least 20 each", f.IMDSD, f.Baseline)
	}
}
