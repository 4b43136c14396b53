package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
)

// Fixed parts of the measurement.
const (
	starts          = 5                      // starts timed for the first answer
	quiet           = time.Second            // pause before the idle RSS
	warmup          = 200 * time.Millisecond // load before the first figure
	slowlorisWindow = 3 * time.Second        // longest slowloris measurement: see below
	targetVsAEMM    = 0.8                    // × amazon-ec2-metadata-mock's CPU per request
	slowlorisUsers  = 16                     // clients measured beside the idle connections
	stormTimeout    = 2 * time.Minute        // bound on the whole boot storm
	getPath         = "/latest/meta-data/instance-id"
)

// slowlorisWindow is shorter than imdsd's header timeout (header_timeout_ms,
// 5 s by default, which the benchmark configuration keeps): imdsd drops a
// connection whose request head is not complete by then, so a longer
// measurement would end after the idle connections it is about are gone.

// Targets of "make bench" for a 2-core machine: what imdsd should reach
// beside the baseline. Missing one is reported, not an error.
const (
	targetFirstAnswerMS = 50
	targetIdleMB        = 15
	targetPeakMB        = 50
	targetRate          = 0.8 // × baseline throughput
	targetP99           = 2   // × baseline p99
	targetRise          = 2   // × own p99 without idle connections
	targetCPU           = 1   // × baseline CPU per request
)

// Options say what to measure. Run checks nothing but the imdsd binary:
// the command validates the rest.
type Options struct {
	IMDSD      string        // the imdsd binary
	Baseline   []string      // the baseline command, run with "--listen ADDR" added; see ServeBaseline
	Duration   time.Duration // load time per figure and server
	Clients    []int         // concurrent clients of the token GET figures
	PutClients int           // concurrent clients of the token PUT figure
	Guests     int           // guests of the boot storm
	IdleConns  int           // half-open connections of the slowloris check
	Sources    int           // loopback source addresses clients spread over
	JSONPath   string        // where to write the figures as JSON too, or ""
	// AEMM is a build of amazon-ec2-metadata-mock to measure imdsd's CPU
	// per token GET against as well, or "" for none.
	AEMM string
}

// Run measures, prints the table on stdout and progress on stderr.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	if st, err := os.Stat(o.IMDSD); err != nil || st.IsDir() {
		return fmt.Errorf("--imdsd %s: no imdsd binary there; build it first (make build, or go build -o bin/imdsd ./cmd/imdsd)", o.IMDSD)
	}
	if len(o.Baseline) == 0 {
		return errors.New("no baseline command")
	}
	cfg, err := benchConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "imdsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "imdsd.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return err
	}

	b := &bench{o: &o, stderr: stderr, procs: &procs{}}
	defer b.procs.stopAll()
	// On SIGINT the servers go at once; the load then fails fast.
	defer context.AfterFunc(ctx, b.procs.stopAll)()
	b.specs = [2]serverSpec{
		{name: "imdsd", path: o.IMDSD, args: func(addr string) []string {
			return []string{"--config", cfgPath, "--listen", addr, "--log", "stderr", "--no-access-log"}
		}},
		{name: "baseline", path: o.Baseline[0], args: func(addr string) []string {
			return append(o.Baseline[1:len(o.Baseline):len(o.Baseline)], "--listen", addr)
		}},
	}
	rep := &report{
		Tool: "imdsbench", IMDSD: o.IMDSD, Version: imdsdVersion(ctx, o.IMDSD),
		Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		LoadAvg: loadAvg(), Duration: o.Duration.String(), Started: time.Now().UTC().Format(time.RFC3339),
	}
	if lim, err := raiseNoFile(); err != nil {
		b.note("cannot raise the open file limit: %v", err)
	} else if need := uint64(o.IdleConns + max(o.Guests, slices.Max(o.Clients)) + 64); lim < need {
		b.note("open file limit %d is below the %d sockets the load needs; expect failed connections", lim, need)
	}
	if err := b.measure(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		return err
	}
	for i := range b.figs {
		b.figs[i].judge()
	}
	rep.Figures, rep.Notes = b.figs, b.notes

	fmt.Fprintf(stdout, "imdsbench: %s (%s) vs net/http baseline, %s/%s, %d CPUs, load %s at start, %v per figure\n\n",
		o.IMDSD, rep.Version, rep.OS, rep.Arch, rep.CPUs, orDash(rep.LoadAvg), o.Duration)
	if err := printTable(stdout, b.figs); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nratio = imdsd ÷ baseline; MB = 10^6 bytes; targets for a 2-core machine; FAIL is a report, not an error")
	for _, n := range b.notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if o.JSONPath != "" {
		if err := writeJSON(o.JSONPath, rep); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	return nil
}

// bench is one measurement: the two servers and the figures so far.
type bench struct {
	o      *Options
	stderr io.Writer
	procs  *procs
	specs  [2]serverSpec // imdsd, baseline
	srv    [2]*proc      // running: imdsd, baseline
	figs   []figure
	notes  []string
	failed [2]int // failed requests over all load runs
}

func (b *bench) note(format string, a ...any) { b.notes = append(b.notes, fmt.Sprintf(format, a...)) }

func (b *bench) progress(format string, a ...any) {
	fmt.Fprintf(b.stderr, "imdsbench: "+format+"\n", a...)
}

func (b *bench) add(f figure) { b.figs = append(b.figs, f) }

// measure takes every figure, in an order where each can be read: memory
// idle before any load, the peak right after the largest GET run, the
// slowloris check last.
func (b *bench) measure(ctx context.Context) error {
	b.progress("first answer: %d starts of each server", starts)
	if err := b.firstAnswer(ctx); err != nil {
		return err
	}
	sleep(ctx, quiet)
	if err := b.memory(ctx, "RSS idle, 1 s after start", false, maxValue, targetIdleMB); err != nil {
		return err
	}
	for _, p := range b.srv { // not measured: first connections, first goroutines
		if _, err := runLoad(ctx, p.addr, b.getLoad(p, 16, warmup)); err != nil {
			return err
		}
	}
	for _, n := range b.o.Clients {
		b.progress("token GET, %s", plural(n, "client"))
		ri, rb, err := b.pair(ctx, func(p *proc, d time.Duration) loadSpec { return b.getLoad(p, n, d) })
		if err != nil {
			return err
		}
		b.rows("token GET, "+plural(n, "client"), ri, rb)
	}
	if b.o.AEMM != "" {
		if err := b.vsAEMM(ctx); err != nil {
			return err
		}
	}
	peak := fmt.Sprintf("RSS peak after %s (VmHWM)", plural(slices.Max(b.o.Clients), "GET client"))
	if err := b.memory(ctx, peak, true, maxValue, targetPeakMB); err != nil {
		return err
	}
	b.progress("token PUT, %s", plural(b.o.PutClients, "client"))
	ri, rb, err := b.pair(ctx, func(p *proc, d time.Duration) loadSpec { return b.putLoad(p, b.o.PutClients, d) })
	if err != nil {
		return err
	}
	b.rows("token PUT, "+plural(b.o.PutClients, "client"), ri, rb)
	b.progress("boot storm, %s", plural(b.o.Guests, "guest"))
	if err := b.storm(ctx); err != nil {
		return err
	}
	if b.o.IdleConns > 0 {
		b.progress("slowloris, %d idle connections", b.o.IdleConns)
		if err := b.slowloris(ctx); err != nil {
			return err
		}
	}
	b.add(figure{Name: "failed requests, all load runs", Unit: "count",
		IMDSD: num(float64(b.failed[0])), Baseline: num(float64(b.failed[1])), check: maxValue, noRatio: true})
	return b.memory(ctx, "RSS peak, whole run (VmHWM)", true, info, 0)
}

// firstAnswer starts each server several times, alternately, and keeps the
// last start of each running.
func (b *bench) firstAnswer(ctx context.Context) error {
	var times [2][]time.Duration
	for i := range starts {
		for k, spec := range b.specs {
			p, d, err := b.procs.start(ctx, spec)
			if err != nil {
				return err
			}
			times[k] = append(times[k], d)
			if i < starts-1 {
				p.stop()
			} else {
				b.srv[k] = p
			}
		}
	}
	b.add(figure{Name: fmt.Sprintf("first answer after exec, median of %d", starts), Unit: "ms",
		IMDSD: num(ms(median(times[0]))), Baseline: num(ms(median(times[1]))),
		check: maxValue, limit: targetFirstAnswerMS})
	return nil
}

// memory adds a row of resident memory, now or at the peak so far.
func (b *bench) memory(ctx context.Context, name string, peak bool, c check, limit float64) error {
	var vals [2]*float64
	for k, p := range b.srv {
		if err := b.alive(p); err != nil {
			return err
		}
		now, hwm, err := rss(p.pid())
		if err != nil {
			b.note("%s: %s: %v", name, p.name, err)
			continue
		}
		v := now
		if peak {
			v = hwm
		}
		if v >= 0 {
			vals[k] = num(float64(v) / 1e6)
		}
	}
	b.add(figure{Name: name, Unit: "MB", IMDSD: vals[0], Baseline: vals[1], check: c, limit: limit})
	return ctx.Err()
}

// alive fails when p has exited, with its last output.
func (b *bench) alive(p *proc) error {
	if p.exited() {
		return fmt.Errorf("%s exited during the measurement%s", p.name, p.output.indented())
	}
	return nil
}

// getLoad is clients clients each taking a token, then GETting with it.
func (b *bench) getLoad(p *proc, clients int, d time.Duration) loadSpec {
	return loadSpec{clients: clients, duration: d, sources: b.o.Sources,
		prepare: func(ctx context.Context, c *client) ([]byte, error) {
			tok, err := mintToken(ctx, c, p.addr)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			return getRequest(p.addr, getPath, tok), nil
		}}
}

// closeLoad is getLoad with "Connection: close" in the requests, which
// amazon-ec2-metadata-mock needs to close a connection after its answer,
// as EC2 and imdsd do; both servers get the same requests.
func (b *bench) closeLoad(p *proc, clients int, d time.Duration) loadSpec {
	return loadSpec{clients: clients, duration: d, sources: b.o.Sources,
		prepare: func(ctx context.Context, c *client) ([]byte, error) {
			tok, err := mintWith(ctx, c, askClose(tokenRequest(p.addr)))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			return askClose(getRequest(p.addr, getPath, tok)), nil
		}}
}

// putLoad is clients clients taking tokens.
func (b *bench) putLoad(p *proc, clients int, d time.Duration) loadSpec {
	return loadSpec{clients: clients, duration: d, sources: b.o.Sources,
		prepare: func(context.Context, *client) ([]byte, error) { return tokenRequest(p.addr), nil }}
}

// pair runs a load against both servers, alternately, half the duration at
// a time: imdsd, baseline, baseline, imdsd.
func (b *bench) pair(ctx context.Context, mk func(p *proc, d time.Duration) loadSpec) (imdsd, base result, err error) {
	return b.alternate(ctx, b.srv, mk)
}

// alternate runs a load against two servers as pair does.
func (b *bench) alternate(ctx context.Context, srv [2]*proc, mk func(p *proc, d time.Duration) loadSpec) (first, second result, err error) {
	half := b.o.Duration / 2
	var parts [2][]result
	for _, k := range []int{0, 1, 1, 0} {
		p := srv[k]
		cpu0, sys0, cerr := counters(p.pid())
		r, err := runLoad(ctx, p.addr, mk(p, half))
		if err != nil {
			return result{}, result{}, err
		}
		r.syscalls = -1
		if cpu1, sys1, err := counters(p.pid()); cerr == nil && err == nil {
			r.cpu, r.cpuKnown = cpu1-cpu0, true
			if sys0 >= 0 && sys1 >= 0 {
				r.syscalls = sys1 - sys0
			}
		}
		if err := b.alive(p); err != nil {
			return result{}, result{}, err
		}
		parts[k] = append(parts[k], r)
	}
	return merge(parts[0]...), merge(parts[1]...), nil
}

// rows adds throughput, p50 and p99 of a pair of runs.
func (b *bench) rows(name string, ri, rb result) {
	b.count(name, 0, ri)
	b.count(name, 1, rb)
	b.add(figure{Name: name + ": throughput", Unit: "req/s", IMDSD: num(ri.rate()), Baseline: num(rb.rate()),
		check: minRatio, limit: targetRate})
	b.add(figure{Name: name + ": p50", Unit: "ms", IMDSD: num(ms(ri.p(50))), Baseline: num(ms(rb.p(50)))})
	b.add(figure{Name: name + ": p99", Unit: "ms", IMDSD: num(ms(ri.p(99))), Baseline: num(ms(rb.p(99))),
		check: maxRatio, limit: targetP99})
	// The server's CPU per request, at most the floor's, and its
	// read/write system calls per request, so that a regression shows.
	ci, si := ri.perRequest()
	cb, sb := rb.perRequest()
	if !strings.HasPrefix(name, "token GET") || ci == nil && cb == nil {
		return
	}
	b.add(figure{Name: name + ": server CPU per request", Unit: "µs", IMDSD: ci, Baseline: cb,
		check: maxRatio, limit: targetCPU})
	if si != nil || sb != nil {
		b.add(figure{Name: name + ": read/write syscalls per request", Unit: "count", IMDSD: si, Baseline: sb})
	}
}

// vsAEMM measures imdsd's CPU per token GET against amazon-ec2-metadata-
// mock's (--aemm), started IMDSv2-only on a port of 127.0.0.1 and stopped
// after, for each number of clients. Its failed requests are noted, not
// counted in the table's total; imdsd's are counted as in every run.
// AEMM, as it ships, logs every request to its standard output (a pipe
// here): that is part of what it costs.
func (b *bench) vsAEMM(ctx context.Context) error {
	spec := serverSpec{name: "amazon-ec2-metadata-mock", path: b.o.AEMM, askClose: true, args: func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		return []string{"--hostname", host, "--port", port, "--imdsv2"}
	}}
	p, _, err := b.procs.start(ctx, spec)
	if err != nil {
		return fmt.Errorf("--aemm: %w", err)
	}
	defer p.stop()
	if _, err := runLoad(ctx, p.addr, b.closeLoad(p, 16, warmup)); err != nil {
		return fmt.Errorf("--aemm: %w", err)
	}
	for _, n := range b.o.Clients {
		name := "token GET, " + plural(n, "client")
		b.progress("%s, against amazon-ec2-metadata-mock", name)
		ri, ra, err := b.alternate(ctx, [2]*proc{b.srv[0], p}, func(p *proc, d time.Duration) loadSpec { return b.closeLoad(p, n, d) })
		if err != nil {
			return fmt.Errorf("--aemm: %w", err)
		}
		b.count(name, 0, ri)
		if ra.errs > 0 {
			b.note("%s: %s: %d of %d requests failed, first: %v", name, p.name, ra.errs, ra.errs+ra.n, ra.firstErr)
		}
		ci, si := ri.perRequest()
		ca, sa := ra.perRequest()
		if ci == nil && ca == nil {
			continue
		}
		b.add(figure{Name: name + ": server CPU per request, baseline = AEMM", Unit: "µs", IMDSD: ci, Baseline: ca,
			check: maxRatio, limit: targetVsAEMM})
		if si != nil || sa != nil {
			b.add(figure{Name: name + ": read/write syscalls per request, baseline = AEMM", Unit: "count", IMDSD: si, Baseline: sa})
		}
	}
	return nil
}

// count adds the failures of server k in a run to its total, with a note.
func (b *bench) count(name string, k int, r result) {
	b.failed[k] += r.errs
	if r.errs > 0 {
		b.note("%s: %s: %d of %d requests failed, first: %v", name, b.srv[k].name, r.errs, r.errs+r.n, r.firstErr)
	}
}

// storm runs the boot storm against imdsd only: the baseline has no tree.
func (b *bench) storm(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, stormTimeout)
	defer cancel()
	p := b.srv[0]
	r, err := bootStorm(sctx, p.addr, b.o.Guests, b.o.Sources)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		b.note("boot storm: stopped after %v: %v", stormTimeout, err)
	}
	if err := b.alive(p); err != nil {
		return err
	}
	if r.errs > 0 {
		b.note("boot storm: %d requests of %d guests failed, first: %v", r.errs, r.failed, r.firstErr)
	}
	name := "boot storm, " + plural(r.guests, "guest")
	b.add(figure{Name: name + ": total time", Unit: "s", IMDSD: num(r.total.Seconds())})
	b.add(figure{Name: name + ": requests", Unit: "count", IMDSD: num(float64(r.requests))})
	b.add(figure{Name: name + ": failed requests", Unit: "count", IMDSD: num(float64(r.errs)), check: maxValue})
	b.add(figure{Name: name + ": per-guest p50", Unit: "ms", IMDSD: num(ms(percentile(r.lat, 50)))})
	b.add(figure{Name: name + ": per-guest p99", Unit: "ms", IMDSD: num(ms(percentile(r.lat, 99)))})
	return nil
}

// slowloris measures, for each server, the p99 of token GETs with and
// without idle connections holding half-sent request heads.
func (b *bench) slowloris(ctx context.Context) error {
	d := min(b.o.Duration, slowlorisWindow)
	var without, with, accepted [2]*float64
	var rise [2]*float64
	src := netip.Addr{}
	if ManyLoopback && b.o.Sources < int(attackerAddr.As4()[3]) {
		src = attackerAddr
	}
	for k, p := range b.srv {
		r0, err := runLoad(ctx, p.addr, b.getLoad(p, slowlorisUsers, d))
		if err != nil {
			return err
		}
		before := openFiles(p.pid())
		conns, err := holdIdle(ctx, p.addr, b.o.IdleConns, src)
		if err != nil {
			return fmt.Errorf("slowloris against %s: %w", p.name, err)
		}
		if n := waitAccepted(ctx, p.pid(), before, b.o.IdleConns, 5*time.Second); n >= 0 {
			accepted[k] = num(float64(n))
		}
		r1, err := runLoad(ctx, p.addr, b.getLoad(p, slowlorisUsers, d))
		closeAll(conns)
		if err != nil {
			return err
		}
		if err := b.alive(p); err != nil {
			return err
		}
		b.count("slowloris, alone", k, r0)
		b.count(fmt.Sprintf("slowloris, beside %d idle connections", b.o.IdleConns), k, r1)
		without[k], with[k] = num(ms(r0.p(99))), num(ms(r1.p(99)))
		if *without[k] > 0 {
			rise[k] = num(*with[k] / *without[k])
		}
	}
	name := fmt.Sprintf("slowloris, %d clients", slowlorisUsers)
	b.add(figure{Name: name + ": p99 alone", Unit: "ms", IMDSD: without[0], Baseline: without[1]})
	b.add(figure{Name: fmt.Sprintf("%s: p99 beside %d idle conns", name, b.o.IdleConns), Unit: "ms",
		IMDSD: with[0], Baseline: with[1]})
	b.add(figure{Name: name + ": p99 rise (beside ÷ alone)", Unit: "×", IMDSD: rise[0], Baseline: rise[1],
		check: maxValue, limit: targetRise, noRatio: true})
	b.add(figure{Name: "slowloris: idle conns the server holds open", Unit: "count",
		IMDSD: accepted[0], Baseline: accepted[1], noRatio: true})
	return nil
}

// plural is "1 client", "16 clients".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// benchConfig is the configuration imdsd serves: the built-in default plus
// an instance profile, so that the crawl includes credentials, with tokens
// required. The per-client rate limit is off: the figures are capacity, and
// a few loopback sources stand for hundreds of guests. The connection caps
// stay at their defaults, which is what the slowloris figure checks.
func benchConfig() ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(config.DefaultJSON(), &m); err != nil {
		return nil, fmt.Errorf("the built-in configuration: %w", err)
	}
	m["iam"] = map[string]any{"role": "bench-role"}
	m["http_tokens"] = "required"
	m["rate_limit"] = map[string]any{"requests_per_second": 0}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, _, err := config.Parse("imdsbench configuration", b); err != nil {
		return nil, fmt.Errorf("the benchmark configuration does not load: %w", err)
	}
	return b, nil
}

// imdsdVersion is what "imdsd --version" prints after the name, or "?".
func imdsdVersion(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "?"
	}
	return f[len(f)-1]
}

// loadAvg is the 1, 5 and 15 minute load averages, where /proc has them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// raiseNoFile raises the open file limit to the hard limit: thousands of
// sockets exceed the usual 1024. The servers started after inherit it.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur == lim.Max {
		return uint64(lim.Cur), nil
	}
	raised := lim
	raised.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return uint64(lim.Cur), err
	}
	return uint64(raised.Cur), nil
}
