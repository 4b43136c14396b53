package lifecycle

import (
	"strconv"
	"strings"
	"time"
)

// stamp formats t as EC2's JSON times: RFC 3339 in UTC to the second, which
// is also botocore's "%Y-%m-%dT%H:%M:%SZ".
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// eventDate formats t as the times of scheduled events: "21 Jan 2019
// 09:00:43 GMT", the day not zero-padded.
func eventDate(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04:05 GMT") }

// spotBody is meta-data/spot/instance-action: compact, as captured from a
// real instance.
func spotBody(action string, at time.Time) []byte {
	return []byte(`{"action":` + jsonString(action) + `,"time":"` + stamp(at) + `"}`)
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
		field(&b, "NotBefore", eventDate(e.notBefore), false)
		field(&b, "Code", e.code, false)
		field(&b, "Description", e.description, false)
		field(&b, "EventId", e.id, false)
		if !e.notAfter.IsZero() {
			field(&b, "NotAfter", eventDate(e.notAfter), false)
		}
		field(&b, "State", e.state, true)
		b.WriteString("\n}")
	}
	b.WriteString(" ]")
	return []byte(b.String())
}

func field(b *strings.Builder, k, v string, last bool) {
	b.WriteString("  ")
	b.WriteString(strconv.Quote(k))
	b.WriteString(" : ")
	b.WriteString(jsonString(v))
	if !last {
		b.WriteString(",\n")
	}
}

// jsonObject renders string key/value pairs in AWS's JSON layout: two-space
// indent, "key" : value, no trailing newline.
func jsonObject(kv ...string) []byte {
	var b strings.Builder
	b.WriteString("{\n")
	for i := 0; i < len(kv); i += 2 {
		field(&b, kv[i], kv[i+1], i+2 >= len(kv))
	}
	b.WriteString("\n}")
	return []byte(b.String())
}

// jsonString quotes s as a JSON string, escaping as Jackson does: quotes,
// backslashes and control characters; other characters as they are.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
