// Package lifecycle is the part of an instance's metadata that changes while
// it runs: spot interruption notices, rebalance recommendations, scheduled
// maintenance events, the Auto Scaling target lifecycle state and rotating
// role credentials. It exists so that these moving parts are computed in one
// place, from a configuration ([Spec], [Credentials]) and a few fixed
// instants, byte for byte as EC2 serves them, and so that the rest of imdsd
// (configuration, metadata tree, server) only asks it questions.
//
// # Clocks
//
// Every time in a body is computed from anchors that are fixed once known:
// the time the configuration was loaded ([Params].Loaded: the daemon's start
// for the first load) and the time of the guest's first request (recorded
// once, by [Timeline.Request]; the first caller wins). A "when" is either
// {"at": RFC 3339}, an absolute instant, or {"after": duration, "from":
// "first_request" | "start"}, counted from the guest's first request (the
// default) or from the load. Resolved instants are rounded up to the whole
// second, as EC2's bodies carry seconds, so a notice becomes visible exactly
// at the instant its body names. No time is ever derived from the "now" of
// a request: a poller sees the same bytes on every poll, and a notice's time
// never moves once it is visible.
//
// # Reloads
//
// A reload compiles a new [Timeline] and calls [Timeline.Carry] with the old
// one. The guest's first-request time is always kept (the new timeline shares
// the old one's record, so a first request racing the swap is not lost).
// Beyond that, each "when" of the configuration is carried on its own: the
// clock of a when that did not change keeps running, so what was issued stays
// issued with the same times; a when that is new or changed starts "from the
// reload", which means:
//
//   - "from": "start" counts from the reload instead of the daemon's start;
//   - "from": "first_request" counts from the guest's first request if that
//     comes after the reload, else from the reload;
//   - "at" is absolute and means the same before and after a reload.
//
// The whens are: spot_interruption, rebalance_recommendation, each of the
// scheduled_events (matched by its id, given or derived), each entry of
// autoscaling_lifecycle (matched by position) and iam.rotation (its clock is
// the guest's first request; it restarts when lifetime or interval change).
// The other keys of an item (a spot action, an event's state, code,
// description, not_before and not_after) apply from the reload with the
// item's carried times: a rescheduled event keeps its id and when it
// appeared and gets its new NotBefore; an event made completed or canceled
// moves to the history at the reload, which [Timeline.Transitions] reports.
// An item removed from the configuration is gone after the reload.
//
// # Paths
//
// Paths are given as below the API version, as imdspath.Split returns them:
// "meta-data/spot/instance-action". [Owns] tells which paths the package
// answers; [Timeline.Lookup] answers them (ok false is a 404) and
// [Timeline.Listing] gives the names to add to the listings the metadata
// tree builds (meta-data/ and meta-data/events/). All bodies are text/plain,
// as EC2 serves its JSON.
//
// A Timeline is safe for concurrent use. Its only mutable state is atomic:
// the first-request time and the first read of each notice ([Timeline.Observe]).
package lifecycle
