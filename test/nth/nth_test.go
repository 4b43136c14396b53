// Package nth tests imdsd against the IMDS client of the AWS Node
// Termination Handler (github.com/aws/aws-node-termination-handler/
// pkg/ec2metadata), the code a spot and maintenance handler runs in real
// clusters. It is a module of its own, so that the handler's module tree
// stays out of the daemon's go.mod; `make test` runs it.
package nth

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-node-termination-handler/pkg/ec2metadata"

	"github.com/imdsd/imdsd/pkg/imdstest"
	"github.com/imdsd/imdsd/pkg/server"
)

// eventDateFormat is the layout the handler's scheduled-event monitor
// parses NotBefore and NotAfter with.
const eventDateFormat = "2 Jan 2006 15:04:05 GMT"

// TestNodeTerminationHandler runs the handler's client against a spot
// instance whose notices come a second after its first request: before,
// it sees no notice (404, which it takes as "none"); after, it decodes the
// spot notice, the rebalance recommendation, the scheduled events (one
// without NotAfter) and the Auto Scaling state, the same on every poll.
func TestNodeTerminationHandler(t *testing.T) {
	cfg := imdstest.Config(t, `{
  "instance_id": "i-0123456789abcdef0",
  "market": "spot",
  "spot_interruption": {"action": "terminate", "after": "1s"},
  "rebalance_recommendation": {"after": "1s"},
  "scheduled_events": [
    {"code": "system-reboot", "not_before": "2026-12-08T09:00:43Z", "not_after": "2026-12-08T09:17:23Z"},
    {"code": "instance-stop", "not_before": "72h"}
  ],
  "autoscaling_lifecycle": [{"state": "InService", "after": "0s"}, {"state": "Terminated", "after": "1s"}]
}`)
	_, ep := imdstest.Start(t, cfg, server.Options{})
	nth := ec2metadata.New("http://"+ep, 2)

	itn, err := nth.GetSpotITNEvent()
	if err != nil || itn != nil {
		t.Fatalf("before the notice: GetSpotITNEvent = %+v, %v; want nil, nil", itn, err)
	}
	if rb, err := nth.GetRebalanceRecommendationEvent(); err != nil || rb != nil {
		t.Fatalf("before the recommendation: %+v, %v; want nil, nil", rb, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for itn == nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if itn, err = nth.GetSpotITNEvent(); err != nil {
			t.Fatal(err)
		}
	}
	if itn == nil {
		t.Fatal("no spot notice within 15 s")
	}
	notice, err := time.Parse(time.RFC3339, itn.Time)
	if err != nil || itn.Action != "terminate" {
		t.Fatalf("spot notice %+v: want terminate and an RFC 3339 time (%v)", itn, err)
	}
	rb, err := nth.GetRebalanceRecommendationEvent()
	if err != nil || rb == nil {
		t.Fatalf("rebalance recommendation: %+v, %v", rb, err)
	}
	rec, err := time.Parse(time.RFC3339, rb.NoticeTime)
	if err != nil || notice.Sub(rec) != 2*time.Minute {
		t.Errorf("noticeTime %q, action time %q: want the action two minutes after the notice (%v)", rb.NoticeTime, itn.Time, err)
	}
	evs, err := nth.GetScheduledMaintenanceEvents() // there from the start
	if err != nil || len(evs) != 2 {
		t.Fatalf("GetScheduledMaintenanceEvents = %+v, %v; want two events", evs, err)
	}
	if e := evs[0]; e.Code != "system-reboot" || e.State != "active" || e.Description != "scheduled reboot" ||
		e.NotBefore != "8 Dec 2026 09:00:43 GMT" || e.NotAfter != "8 Dec 2026 09:17:23 GMT" ||
		!regexp.MustCompile(`^instance-event-[0-9a-f]{17}$`).MatchString(e.EventID) {
		t.Errorf("event 0 = %+v", e)
	}
	if e := evs[1]; e.Code != "instance-stop" || e.NotAfter != "" {
		t.Errorf("event 1 = %+v, want instance-stop without NotAfter", e)
	}
	for _, e := range evs {
		if _, err := time.Parse(eventDateFormat, e.NotBefore); err != nil {
			t.Errorf("the handler cannot parse NotBefore %q: %v", e.NotBefore, err)
		}
	}

	if st, err := nth.GetASGTargetLifecycleState(); err != nil || st != "Terminated" {
		t.Errorf("GetASGTargetLifecycleState = %q, %v; want Terminated", st, err)
	}
	// The handler keys a notice on its content: the same on every poll.
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		again, err := nth.GetSpotITNEvent()
		if err != nil || again == nil || *again != *itn {
			t.Fatalf("poll %d: %+v, %v; want %+v again", i, again, err, itn)
		}
	}
	if md := nth.GetNodeMetadata(); md.InstanceID != "i-0123456789abcdef0" || !strings.HasPrefix(md.AvailabilityZone, md.Region) {
		t.Errorf("GetNodeMetadata = %+v", md)
	}
}
