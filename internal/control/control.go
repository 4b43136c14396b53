// Package control is imdsd's control API: HTTP/1.1 and JSON over the
// control socket (see package ctlsock), by which the host's administrator,
// a CI job or a VM manager changes a running imdsd's guests without a
// reload — their metadata (RFC 7396 merge patches), guests added and
// removed, and the instance's life: spot interruptions, rebalance
// recommendations, scheduled events, the Auto Scaling state, credentials.
//
// The package parses and checks requests, calls a [Backend] and renders its
// answers and errors; it knows nothing of how guests are kept. The Backend
// (the server) applies each change to every guest of the target or to
// none, writes the state file before returning, and returns an [*Error]
// (or a config.ErrorList) that says what to fix when it refuses.
//
// The API is versioned: every path starts with /v1. imdsctl(8) documents
// each request, response and error.
package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
)

// Backend is what the control API changes: a running imdsd. Every method
// taking a Target applies to all the guests it selects or, when it returns
// an error, to none; a Target that selects no guest is an error (404).
// Changes are written to the state file before the method returns. The
// context is the request's.
type Backend interface {
	// Guests lists every guest, configured and added, in a stable order.
	Guests(ctx context.Context) ([]Guest, error)
	// Instances returns the effective instance of each guest of t, as
	// the configuration's JSON with the runtime overrides over it;
	// secrets (credentials, token keys) are replaced with "(hidden)"
	// unless secrets is true.
	Instances(ctx context.Context, t Target, secrets bool) ([]Instance, error)
	// Overrides returns the runtime overrides of each guest of t: one
	// merge-patch document each, {} when there are none.
	Overrides(ctx context.Context, t Target) ([]Overrides, error)
	// PatchOverrides merges patch (RFC 7396, a JSON object) into the
	// runtime overrides of each guest of t: a member set to null removes
	// that runtime value, and the configured one shows again. The result
	// is validated as the configuration file would be; a guest sees the
	// old instance or the new one in every answer, never a mix.
	PatchOverrides(ctx context.Context, t Target, patch json.RawMessage) ([]Outcome, error)
	// ReplaceOverrides makes doc (a JSON object) the runtime overrides of
	// each guest of t.
	ReplaceOverrides(ctx context.Context, t Target, doc json.RawMessage) ([]Outcome, error)
	// ResetOverrides drops the runtime overrides of each guest of t.
	ResetOverrides(ctx context.Context, t Target) ([]Outcome, error)
	// AddGuest adds a guest described by doc, a JSON object shaped like
	// an instances_dir file.
	AddGuest(ctx context.Context, doc json.RawMessage) (Outcome, error)
	// RemoveGuest removes a guest added at run time.
	RemoveGuest(ctx context.Context, id string) (Outcome, error)
	// Spot issues a spot interruption notice.
	Spot(ctx context.Context, t Target, r SpotRequest) ([]Outcome, error)
	// Rebalance issues a rebalance recommendation.
	Rebalance(ctx context.Context, t Target, r RebalanceRequest) ([]Outcome, error)
	// AddEvent schedules an event.
	AddEvent(ctx context.Context, t Target, r EventRequest) ([]Outcome, error)
	// ChangeEvent cancels, completes or reschedules an event.
	ChangeEvent(ctx context.Context, t Target, r EventChange) ([]Outcome, error)
	// SetASG sets the Auto Scaling target lifecycle state.
	SetASG(ctx context.Context, t Target, state string) ([]Outcome, error)
	// Credentials rotates or breaks the credentials; action is one of
	// CredentialActions.
	Credentials(ctx context.Context, t Target, action string) ([]Outcome, error)
	// Clear withdraws everything issued at run time (notices, events,
	// Auto Scaling state, credential actions); overrides stay.
	Clear(ctx context.Context, t Target) ([]Outcome, error)
}

// Guest is one line of the guest list.
type Guest struct {
	ID string `json:"id"`
	// Name is the guest's Name tag, if any.
	Name string `json:"name,omitempty"`
	// Match says how clients are matched to the guest: networks
	// ("10.0.0.5/32"), or "default" for the default instance.
	Match []string `json:"match,omitempty"`
	// Origin is where the guest is defined: "imdsd.conf:12",
	// "instances.d/web1.json", or "runtime" for a guest added at run time.
	Origin string `json:"origin,omitempty"`
	// Addresses are the client addresses seen for the guest.
	Addresses    []string  `json:"addresses,omitempty"`
	FirstRequest time.Time `json:"first_request,omitzero"`
	LastRequest  time.Time `json:"last_request,omitzero"`
	// Overrides is true when the guest has runtime overrides.
	Overrides bool `json:"overrides,omitempty"`
	// Issued lists, for people, what was issued at run time and is in
	// force: "spot terminate at 2026-03-31T16:34:24Z".
	Issued []string `json:"issued,omitempty"`
}

// Instance is a guest's effective instance.
type Instance struct {
	ID       string          `json:"id"`
	Instance json.RawMessage `json:"instance"`
}

// Overrides is a guest's runtime overrides document.
type Overrides struct {
	ID        string          `json:"id"`
	Overrides json.RawMessage `json:"overrides"`
}

// Outcome is what a change did to one guest.
type Outcome struct {
	ID string `json:"id"`
	// Summary says it for people, in a few words: "spot terminate:
	// notice at 16:32:24Z, action at 16:34:24Z".
	Summary string `json:"summary"`
	// Detail says it for programs: what was issued, as JSON (the spot
	// notice's action and times, an event's id).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// SpotRequest is a spot interruption to issue.
type SpotRequest struct {
	// Action is terminate, stop or hibernate.
	Action string
	// Notice is when the notice appears; its action time is two minutes
	// later (for hibernate, the notice time).
	Notice When
}

// RebalanceRequest is a rebalance recommendation to issue.
type RebalanceRequest struct {
	// Notice is when it appears: its noticeTime.
	Notice When
}

// EventRequest is a scheduled event to create.
type EventRequest struct {
	// Code is one of EventCodes.
	Code string
	// Description is empty for EC2's wording for the code.
	Description string
	// NotBefore is when the event starts; zero means now.
	NotBefore When
	// NotAfter is when it ends; zero means no end.
	NotAfter When
}

// EventChange is a change to an event.
type EventChange struct {
	// Action is cancel, complete or reschedule.
	Action string
	// ID is the event's id, instance-event-….
	ID string
	// NotBefore is the new start, for reschedule.
	NotBefore When
}

// The values the API accepts.
var (
	SpotActions       = []string{"terminate", "stop", "hibernate"}
	EventCodes        = []string{"instance-reboot", "system-reboot", "system-maintenance", "instance-retirement", "instance-stop"}
	EventActions      = []string{"cancel", "complete", "reschedule"}
	ASGStates         = []string{"InService", "Terminated", "Detached", "Standby", "Warmed:Hibernated", "Warmed:Running", "Warmed:Stopped", "Warmed:Terminated"}
	CredentialActions = []string{"rotate", "expire", "expiring", "error", "detach", "ok"}
)

// Error is a refusal the API renders as
//
//	{"error": "message", "problems": [{"guest": …, "key": …, "message": …}]}
//
// with its Status.
type Error struct {
	// Status is the HTTP status: 400 for a request that is wrong in
	// itself, 404 for a target or event that does not exist, 409 for one
	// that conflicts with the state (removing a configured guest, adding
	// one that exists), 422 for a change the configuration's rules
	// refuse, 500 for a failure of imdsd's (the state file cannot be
	// written). Zero means 500.
	Status int
	// Message is what a person can act on.
	Message string
	// Problems are the rule violations behind a 422, each naming the key.
	Problems []Problem
}

// Problem is one rule a change breaks.
type Problem struct {
	// Guest is the instance id the problem is found in.
	Guest string `json:"guest,omitempty"`
	// Where is the file and line of a configured value, or "patch".
	Where string `json:"where,omitempty"`
	// Key is the key path: "tags.Name", "iam.role".
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var parts []string
	for _, s := range []string{p.Guest, p.Where, p.Key} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(append(parts, p.Message), ": ")
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return e.Message
	}
	var b strings.Builder
	b.WriteString(e.Message)
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}

// Errorf returns an *Error with status and a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// NoMatch is the 404 for a target that selects no guest.
func NoMatch(t Target) *Error {
	return Errorf(http.StatusNotFound, "%s: no guest matches; imdsctl guests lists them", t)
}

// Invalid is the 422 for a change the configuration's rules refuse:
// nothing was changed.
func Invalid(problems ...Problem) *Error {
	n := "a problem"
	if len(problems) > 1 {
		n = fmt.Sprintf("%d problems", len(problems))
	}
	return &Error{Status: http.StatusUnprocessableEntity, Message: "refused, nothing was changed: " + n + " to fix", Problems: problems}
}

// FromConfig turns the configuration package's problems, found in guest,
// into an Invalid error.
func FromConfig(guest string, list config.ErrorList) *Error {
	ps := make([]Problem, len(list))
	for i, e := range list {
		where := e.File
		if e.Line > 0 {
			where = fmt.Sprintf("%s:%d", e.File, e.Line)
		}
		ps[i] = Problem{Guest: guest, Where: where, Key: e.Key, Message: e.Msg}
	}
	return Invalid(ps...)
}
