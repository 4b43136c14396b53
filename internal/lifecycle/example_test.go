package lifecycle_test

import (
	"fmt"
	"time"

	"github.com/imdsd/imdsd/internal/lifecycle"
)

// A spot instance that gets a terminate notice 90 seconds after its first
// request.
func Example() {
	start := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	tl, err := lifecycle.Compile(lifecycle.Spec{
		Market:           "spot",
		SpotInterruption: &lifecycle.SpotInterruption{Action: "terminate", After: "90s"},
	}, lifecycle.Params{InstanceID: "i-0123456789abcdef0", Loaded: start})
	if err != nil {
		fmt.Println(err)
		return
	}
	first := start.Add(30 * time.Second)
	tl.Request(first) // the server does this on every request; the first wins

	for _, at := range []time.Duration{0, 89 * time.Second, 90 * time.Second, time.Hour} {
		body, ok := tl.Lookup("meta-data/spot/instance-action", first.Add(at))
		if !ok {
			fmt.Printf("+%v: 404\n", at)
			continue
		}
		fmt.Printf("+%v: %s\n", at, body)
	}
	fmt.Println(tl.Listing("meta-data/", first.Add(time.Hour)))
	for _, tr := range tl.Transitions(first, first.Add(time.Hour)) {
		fmt.Println(tr)
	}
	// Output:
	// +0s: 404
	// +1m29s: 404
	// +1m30s: {"action":"terminate","time":"2026-12-08T09:04:00Z"}
	// +1h0m0s: {"action":"terminate","time":"2026-12-08T09:04:00Z"}
	// [spot/]
	// 2026-12-08T09:02:00Z i-0123456789abcdef0 spot_interruption: terminate at 2026-12-08T09:04:00Z
}

// A configuration's problems, all at once, with keys relative to the
// instance.
func ExampleCheck() {
	for _, p := range lifecycle.Check(lifecycle.Spec{
		SpotInterruption: &lifecycle.SpotInterruption{After: "90"},
	}) {
		fmt.Println(p)
	}
	// Output:
	// spot_interruption: is given but market is "on-demand": EC2 sends interruption notices to spot instances only; add "market": "spot"
	// spot_interruption.after: "90" is not a duration: expected a number and a unit (s, m, h), such as "90s" or "1h30m"
}
