package server

import (
	"encoding/json"
	"time"

	"github.com/imdsd/imdsd/internal/lifecycle"
	"github.com/imdsd/imdsd/internal/mergepatch"
	"github.com/imdsd/imdsd/internal/statefile"
	"github.com/imdsd/imdsd/pkg/config"
)

// What the lifecycle verbs of the control API issued, as a merge patch of
// the instance's lifecycle keys with absolute times ("at"), fixed when the
// request was handled: exact, and the same after a restart.

// lifecyclePatch returns the patch for what g issued, laid over in (the
// configured instance) with g's overrides; nil when nothing was issued.
func lifecyclePatch(g *statefile.Guest, in *config.Instance) []byte {
	if g.Spot == nil && g.Rebalance == nil && len(g.Events) == 0 && g.ASG == nil && (g.Credentials == nil || g.Credentials.Fault == "") {
		return nil
	}
	p := map[string]any{}
	when := func(t time.Time) map[string]any { return map[string]any{"at": stamp(t), "after": nil, "from": nil} }
	if sp := g.Spot; sp != nil {
		w := when(sp.Notice)
		w["action"] = sp.Action
		p["market"] = "spot"
		p["spot_interruption"] = w
	}
	if r := g.Rebalance; r != nil {
		p["rebalance_recommendation"] = when(r.Notice)
	}
	base := effectiveJSON(in, g.Overrides)
	if len(g.Events) > 0 {
		p["scheduled_events"] = events(base, in.InstanceID, g.Events)
	}
	if a := g.ASG; a != nil {
		list, _ := base["autoscaling_lifecycle"].([]any)
		p["autoscaling_lifecycle"] = append(list, map[string]any{"state": a.State, "at": stamp(a.Since)})
	}
	if c := g.Credentials; c != nil && c.Fault != "" {
		p["iam"] = map[string]any{"fault": c.Fault}
	}
	data, _ := json.Marshal(p)
	return data
}

// effectiveJSON is in with the overrides doc over it, as generic JSON.
func effectiveJSON(in *config.Instance, overrides []byte) map[string]any {
	data, _ := json.Marshal(in)
	if len(overrides) > 0 {
		if m, err := mergepatch.Apply(data, overrides); err == nil {
			data = m
		}
	}
	v, _ := mergepatch.Decode(data)
	m, _ := v.(map[string]any)
	return m
}

// configuredEvents returns the scheduled events of base, each with its id
// (given, or the one the lifecycle engine derives).
func configuredEvents(base map[string]any, instanceID string) []map[string]any {
	list, _ := base["scheduled_events"].([]any)
	rank := map[string]int{}
	var out []map[string]any
	for _, v := range list {
		e, ok := v.(map[string]any)
		if !ok {
			continue
		}
		code, _ := e["code"].(string)
		if id, _ := e["id"].(string); id == "" {
			e["id"] = lifecycle.EventID(instanceID, code, rank[code])
		}
		rank[code]++
		out = append(out, e)
	}
	return out
}

// events is the scheduled_events array with the records over it: a record
// with a configured event's id changes that event (state, not_before), the
// others are events issued at run time, appended.
func events(base map[string]any, instanceID string, recs []statefile.Event) []any {
	cfg := configuredEvents(base, instanceID)
	byID := map[string]map[string]any{}
	out := make([]any, 0, len(cfg)+len(recs))
	for _, e := range cfg {
		byID[e["id"].(string)] = e
		out = append(out, e)
	}
	for _, r := range recs {
		if e, ok := byID[r.ID]; ok {
			if r.State != "" {
				e["state"] = r.State
			}
			if !r.NotBefore.IsZero() {
				e["not_before"] = stamp(r.NotBefore)
			}
			continue
		}
		if r.Issued.IsZero() {
			continue // a change to an event the configuration no longer has
		}
		e := map[string]any{"id": r.ID, "code": r.Code, "state": r.State, "at": stamp(r.Issued), "not_before": stamp(r.NotBefore)}
		if r.Description != "" {
			e["description"] = r.Description
		}
		if !r.NotAfter.IsZero() {
			e["not_after"] = stamp(r.NotAfter)
		}
		out = append(out, e)
	}
	return out
}

// configuredEvent finds the configured event id of g, for a change.
func configuredEvent(g *guest, id string) (statefile.Event, bool) {
	in := g.instance()
	for _, e := range configuredEvents(effectiveJSON(in, nil), in.InstanceID) {
		if e["id"] == id {
			code, _ := e["code"].(string)
			state, _ := e["state"].(string)
			return statefile.Event{ID: id, Code: code, State: state}, true
		}
	}
	return statefile.Event{}, false
}
