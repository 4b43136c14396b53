package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imdsd/imdsd/internal/mergepatch"
	"github.com/imdsd/imdsd/pkg/config"
)

// DefaultMaxBody is the size limit of a request body (a patch, a guest):
// over it, 413.
const DefaultMaxBody = mergepatch.DefaultMaxBytes

// Options tune the handler.
type Options struct {
	// MaxBody bounds a request body; zero means DefaultMaxBody.
	MaxBody int64
	// Logger, if set, receives the errors behind 500s.
	Logger *slog.Logger
}

// Handler serves the control API.
type Handler struct {
	b Backend
	o Options
}

// NewHandler returns the control API over b.
func NewHandler(b Backend, o Options) *Handler {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	return &Handler{b: b, o: o}
}

// NewServer returns an http.Server for h with bounded timeouts, to Serve
// on the control socket.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// route is one path shape: its methods and what they do.
type route map[string]func(h *Handler, r *request) (int, any, error)

// request is a control request being handled.
type request struct {
	*http.Request
	target Target
	event  string
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body, err := h.serve(r)
	if err != nil {
		status, body = h.renderError(r, err)
	}
	if status == http.StatusMethodNotAllowed {
		if e, ok := body.(*errorBody); ok && e.allow != "" {
			w.Header().Set("Allow", e.allow)
		}
	}
	data, _ := json.MarshalIndent(body, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// errorBody is an error as sent.
type errorBody struct {
	Error    string    `json:"error"`
	Problems []Problem `json:"problems,omitempty"`
	allow    string
}

func (h *Handler) renderError(r *http.Request, err error) (int, any) {
	var ce *Error
	var list config.ErrorList
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ce):
		status := ce.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		return status, &errorBody{Error: ce.Message, Problems: ce.Problems}
	case errors.As(err, &list):
		ce := FromConfig("", list)
		return ce.Status, &errorBody{Error: ce.Message, Problems: ce.Problems}
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, &errorBody{Error: tooLarge(mbe.Limit)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, &errorBody{Error: "the request was given up before it was done: " + err.Error()}
	}
	if h.o.Logger != nil {
		h.o.Logger.Error("control request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return http.StatusInternalServerError, &errorBody{Error: "imdsd failed: " + err.Error()}
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("the request body is over the limit of %d bytes; send less at a time (a patch of fewer keys)", limit)
}

func badRequest(format string, args ...any) error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// routes maps a path shape (segments after /v1, with T for a target and
// E for an event id) to its methods.
var routes = map[string]route{
	"guests": {
		"GET":  (*Handler).list,
		"POST": (*Handler).add,
	},
	"guests/T": {
		"GET":    (*Handler).show,
		"DELETE": (*Handler).remove,
	},
	"guests/T/overrides": {
		"GET":    (*Handler).overrides,
		"PATCH":  (*Handler).patch,
		"PUT":    (*Handler).replace,
		"DELETE": (*Handler).reset,
	},
	"guests/T/spot":                {"POST": (*Handler).spot},
	"guests/T/rebalance":           {"POST": (*Handler).rebalance},
	"guests/T/events":              {"POST": (*Handler).addEvent},
	"guests/T/events/E/cancel":     {"POST": (*Handler).changeEvent},
	"guests/T/events/E/complete":   {"POST": (*Handler).changeEvent},
	"guests/T/events/E/reschedule": {"POST": (*Handler).changeEvent},
	"guests/T/asg":                 {"POST": (*Handler).asg},
	"guests/T/credentials":         {"POST": (*Handler).credentials},
	"guests/T/clear":               {"POST": (*Handler).clear},
}

func (h *Handler) serve(hr *http.Request) (int, any, error) {
	rest, ok := strings.CutPrefix(hr.URL.EscapedPath(), "/v1/")
	if !ok {
		return 0, nil, Errorf(http.StatusNotFound, "%s: not a path of the control API; its paths start with /v1/ (see imdsctl(8))", hr.URL.Path)
	}
	segs := strings.Split(rest, "/")
	r := &request{Request: hr}
	shape := make([]string, len(segs))
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return 0, nil, Errorf(http.StatusNotFound, "%s: not a path of the control API (see imdsctl(8))", hr.URL.Path)
		}
		shape[i] = u
		switch {
		case i == 1 && segs[0] == "guests":
			shape[i] = "T"
		case i == 3 && segs[2] == "events":
			shape[i] = "E"
			r.event = u
		}
	}
	rt, ok := routes[strings.Join(shape, "/")]
	if !ok {
		return 0, nil, Errorf(http.StatusNotFound, "%s: not a path of the control API (see imdsctl(8))", hr.URL.Path)
	}
	fn, ok := rt[hr.Method]
	if !ok {
		allow := make([]string, 0, len(rt))
		for m := range rt {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		return http.StatusMethodNotAllowed, &errorBody{
			Error: fmt.Sprintf("%s %s: this path takes %s", hr.Method, hr.URL.Path, strings.Join(allow, ", ")),
			allow: strings.Join(allow, ", "),
		}, nil
	}
	if len(shape) > 1 {
		s, _ := url.PathUnescape(segs[1])
		t, err := ParseTarget(s)
		if err != nil {
			return 0, nil, badRequest("%v", err)
		}
		r.target = t
	}
	if err := checkQuery(hr, shape[0] == "guests" && len(shape) == 2 && hr.Method == "GET"); err != nil {
		return 0, nil, err
	}
	if hr.Method == "GET" || hr.Method == "DELETE" {
		if err := h.noBody(r); err != nil {
			return 0, nil, err
		}
	}
	return fn(h, r)
}

// checkQuery refuses query parameters, but for ?secrets= where allowed.
func checkQuery(r *http.Request, secrets bool) error {
	for k := range r.URL.Query() {
		if k != "secrets" || !secrets {
			return badRequest("unknown query parameter %q", k)
		}
	}
	return nil
}

// body reads the request body, bounded, and checks that it is one JSON
// object. An empty body is nil, when optional.
func (h *Handler) body(r *request, optional bool, types ...string) (json.RawMessage, error) {
	if r.ContentLength > h.o.MaxBody {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: tooLarge(h.o.MaxBody)}
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, h.o.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: tooLarge(h.o.MaxBody)}
		}
		return nil, badRequest("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil, nil
		}
		return nil, badRequest("empty request body: send a JSON object")
	}
	if len(types) == 0 {
		types = []string{"application/json"}
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(types, mt) {
		if ct == "" {
			ct = "none"
		}
		return nil, Errorf(http.StatusUnsupportedMediaType, "Content-Type %s: send %s", ct, strings.Join(types, " or "))
	}
	v, err := mergepatch.Decode(data)
	if err != nil {
		return nil, badRequest("the request body is not JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, badRequest("the request body is not a JSON object")
	}
	return data, nil
}

// decode reads an optional JSON object body into v, strictly.
func (h *Handler) decode(r *request, v any) error {
	data, err := h.body(r, true)
	if err != nil || data == nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return badRequest("%s: expected a %s, not a %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown key %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func oneOf(what, v string, valid []string) error {
	if slices.Contains(valid, v) {
		return nil
	}
	return badRequest("%s %q: expected one of %s", what, v, strings.Join(valid, ", "))
}

type results struct {
	Results []Outcome `json:"results"`
}

func done(o []Outcome, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	if o == nil {
		o = []Outcome{}
	}
	return http.StatusOK, results{o}, nil
}

func (h *Handler) list(r *request) (int, any, error) {
	g, err := h.b.Guests(r.Context())
	if err != nil {
		return 0, nil, err
	}
	if g == nil {
		g = []Guest{}
	}
	return http.StatusOK, struct {
		Guests []Guest `json:"guests"`
	}{g}, nil
}

func (h *Handler) show(r *request) (int, any, error) {
	var secrets bool
	switch v := r.URL.Query().Get("secrets"); v {
	case "", "0", "false":
	case "1", "true":
		secrets = true
	default:
		return 0, nil, badRequest("secrets=%s: expected secrets=1 or secrets=0", v)
	}
	in, err := h.b.Instances(r.Context(), r.target, secrets)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Instances []Instance `json:"instances"`
	}{in}, nil
}

// noBody refuses a body on a request that takes none.
func (h *Handler) noBody(r *request) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1))
	if err == nil && len(data) > 0 {
		return badRequest("%s %s takes no request body", r.Method, r.URL.Path)
	}
	return nil
}

func (h *Handler) add(r *request) (int, any, error) {
	doc, err := h.body(r, false)
	if err != nil {
		return 0, nil, err
	}
	o, err := h.b.AddGuest(r.Context(), doc)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, results{[]Outcome{o}}, nil
}

func (h *Handler) remove(r *request) (int, any, error) {
	if r.target.ID == "" {
		return 0, nil, badRequest("remove takes one instance id, not %s", r.target)
	}
	o, err := h.b.RemoveGuest(r.Context(), r.target.ID)
	if err != nil {
		return 0, nil, err
	}
	return done([]Outcome{o}, nil)
}

func (h *Handler) overrides(r *request) (int, any, error) {
	o, err := h.b.Overrides(r.Context(), r.target)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Overrides []Overrides `json:"overrides"`
	}{o}, nil
}

func (h *Handler) patch(r *request) (int, any, error) {
	doc, err := h.body(r, false, "application/merge-patch+json", "application/json")
	if err != nil {
		return 0, nil, err
	}
	return done(h.b.PatchOverrides(r.Context(), r.target, doc))
}

func (h *Handler) replace(r *request) (int, any, error) {
	doc, err := h.body(r, false)
	if err != nil {
		return 0, nil, err
	}
	return done(h.b.ReplaceOverrides(r.Context(), r.target, doc))
}

func (h *Handler) reset(r *request) (int, any, error) {
	return done(h.b.ResetOverrides(r.Context(), r.target))
}

// when parses the optional member key of a request: a time (RFC 3339) or
// a duration from now.
func when(key, s string) (When, error) {
	if s == "" {
		return When{}, nil
	}
	w, err := ParseWhen(s)
	if err != nil {
		return When{}, badRequest("%s: %v", key, err)
	}
	return w, nil
}

// notice reads the "in" (a duration) and "at" (a time) members of a
// request, at most one.
func notice(in, at string) (When, error) {
	switch {
	case in != "" && at != "":
		return When{}, badRequest(`give "in" or "at", not both`)
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return When{}, badRequest("at: %q is not a time (RFC 3339, such as 2026-12-08T09:00:00Z)", at)
		}
		return When{At: t}, nil
	case in != "":
		d, err := time.ParseDuration(in)
		if err != nil || d < 0 {
			return When{}, badRequest("in: %q is not a duration from now (such as 90s or 2m)", in)
		}
		return When{In: d}, nil
	}
	return When{}, nil
}

func (h *Handler) spot(r *request) (int, any, error) {
	var req struct {
		Action string `json:"action"`
		In     string `json:"in"`
		At     string `json:"at"`
	}
	if err := h.decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Action == "" {
		req.Action = "terminate"
	}
	if err := oneOf("action", req.Action, SpotActions); err != nil {
		return 0, nil, err
	}
	w, err := notice(req.In, req.At)
	if err != nil {
		return 0, nil, err
	}
	return done(h.b.Spot(r.Context(), r.target, SpotRequest{Action: req.Action, Notice: w}))
}

func (h *Handler) rebalance(r *request) (int, any, error) {
	var req struct {
		In string `json:"in"`
		At string `json:"at"`
	}
	if err := h.decode(r, &req); err != nil {
		return 0, nil, err
	}
	w, err := notice(req.In, req.At)
	if err != nil {
		return 0, nil, err
	}
	return done(h.b.Rebalance(r.Context(), r.target, RebalanceRequest{Notice: w}))
}

func (h *Handler) addEvent(r *request) (int, any, error) {
	var req struct {
		Code        string `json:"code"`
		Description string `json:"description"`
		NotBefore   string `json:"not_before"`
		NotAfter    string `json:"not_after"`
	}
	if err := h.decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Code == "" {
		return 0, nil, badRequest(`"code" is missing: one of %s`, strings.Join(EventCodes, ", "))
	}
	if err := oneOf("code", req.Code, EventCodes); err != nil {
		return 0, nil, err
	}
	nb, err := when("not_before", req.NotBefore)
	if err != nil {
		return 0, nil, err
	}
	na, err := when("not_after", req.NotAfter)
	if err != nil {
		return 0, nil, err
	}
	if !na.IsZero() {
		now := time.Now()
		if !na.Resolve(now).After(nb.Resolve(now)) {
			return 0, nil, badRequest("not_after %s is not after not_before %s", na, nb)
		}
	}
	return done(h.b.AddEvent(r.Context(), r.target, EventRequest{
		Code: req.Code, Description: req.Description, NotBefore: nb, NotAfter: na,
	}))
}

func (h *Handler) changeEvent(r *request) (int, any, error) {
	action := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	var req struct {
		NotBefore string `json:"not_before"`
	}
	if err := h.decode(r, &req); err != nil {
		return 0, nil, err
	}
	switch {
	case action == "reschedule" && req.NotBefore == "":
		return 0, nil, badRequest(`reschedule needs "not_before": a time (RFC 3339) or a duration from now`)
	case action != "reschedule" && req.NotBefore != "":
		return 0, nil, badRequest(`%s takes no "not_before"`, action)
	}
	nb, err := when("not_before", req.NotBefore)
	if err != nil {
		return 0, nil, err
	}
	if !strings.HasPrefix(r.event, "instance-event-") {
		return 0, nil, badRequest("event id %q: expected instance-event- and its digits, as imdsctl guests or the guest's events/maintenance/scheduled list them", r.event)
	}
	return done(h.b.ChangeEvent(r.Context(), r.target, EventChange{Action: action, ID: r.event, NotBefore: nb}))
}

func (h *Handler) asg(r *request) (int, any, error) {
	var req struct {
		State string `json:"state"`
	}
	if err := h.decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.State == "" {
		return 0, nil, badRequest(`"state" is missing: one of %s`, strings.Join(ASGStates, ", "))
	}
	if err := oneOf("state", req.State, ASGStates); err != nil {
		return 0, nil, err
	}
	return done(h.b.SetASG(r.Context(), r.target, req.State))
}

func (h *Handler) credentials(r *request) (int, any, error) {
	var req struct {
		Action string `json:"action"`
	}
	if err := h.decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Action == "" {
		return 0, nil, badRequest(`"action" is missing: one of %s`, strings.Join(CredentialActions, ", "))
	}
	if err := oneOf("action", req.Action, CredentialActions); err != nil {
		return 0, nil, err
	}
	return done(h.b.Credentials(r.Context(), r.target, req.Action))
}

func (h *Handler) clear(r *request) (int, any, error) {
	if err := h.noBody(r); err != nil {
		return 0, nil, err
	}
	return done(h.b.Clear(r.Context(), r.target))
}
