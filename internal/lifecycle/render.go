package lifecycle

import (
	"strings"
	"time"

	"github.com/imdsd/imdsd/internal/awsjson"
)

// eventDate formats t as the times of scheduled events: "21 Jan 2019
// 09:00:43 GMT", the day not zero-padded.
func eventDate(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04:05 GMT") }

// spotBody is meta-data/spot/instance-action: compact, as captured from a
// real instance.
func spotBody(action string, at time.Time) []byte {
	return []byte(`{"action":` + awsjson.String(action) + `,"time":"` + stamp(at) + `"}`)
}

// rebalanceBody is meta-data/events/recommendations/rebalance, compact like
// the spot notice.
func rebalanceBody(at time.Time) []byte {
	return []byte(`{"noticeTime":"` + stamp(at) + `"}`)
}

// renderedEvent is one scheduled event as served.
type renderedEvent struct {
	notBefore   time.Time
	code        string
	description string
	id          string
	notAfter    time.Time // zero: absent
	state       string
}

// eventsBody renders a list of events in the layout of Jackson's default
// pretty printer, as captured from real instances: "[ {", fields indented by
// two spaces as "key" : value, "}, {" between events, "} ]" at the end;
// the empty list is "[]". The keys come in the captured order: NotBefore,
// Code, Description, EventId, NotAfter (only when the event has one),
// State.
func eventsBody(evs []renderedEvent) []byte {
	if len(evs) == 0 {
		return []byte("[]")
	}
	var b strings.Builder
	b.WriteString("[ ")
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{\n")
		awsjson.Field(&b, "NotBefore", eventDate(e.notBefore), false)
		awsjson.Field(&b, "Code", e.code, false)
		awsjson.Field(&b, "Description", e.description, false)
		awsjson.Field(&b, "EventId", e.id, false)
		if !e.notAfter.IsZero() {
			awsjson.Field(&b, "NotAfter", eventDate(e.notAfter), false)
		}
		awsjson.Field(&b, "State", e.state, true)
		b.WriteString("\n}")
	}
	b.WriteString(" ]")
	return []byte(b.String())
}

// jsonObject renders key/value pairs in AWS's layout.
func jsonObject(kv ...any) []byte { return []byte(awsjson.Object(kv...)) }

// stamp formats t as EC2 does: RFC 3339 in UTC to the second.
func stamp(t time.Time) string { return awsjson.Stamp(t) }
