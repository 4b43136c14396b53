package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The baseline's fixed answers. baselineToken has the length and the prefix
// of an EC2 token, so that both servers receive requests of the same size.
const (
	baselineToken = "AQAEAAbenchmarkBaselineTokenFixedFiftySixCharacters00000"
	baselineValue = "i-1234567890"
	tokenPath     = "/latest/api/token"
	tokenHeader   = "X-Aws-Ec2-Metadata-Token"
)

// baselineHandler is the least a token-checking metadata server can do in
// net/http: PUT on the token path returns the fixed token, GET of any path
// returns the fixed value when the request carries that token and 401
// otherwise.
func baselineHandler() http.Handler {
	token := []byte(baselineToken)
	value := []byte(baselineValue)
	tokenLen := strconv.Itoa(len(token))
	valueLen := strconv.Itoa(len(value))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		switch r.Method {
		case http.MethodPut:
			if r.URL.Path != tokenPath {
				http.NotFound(w, r)
				return
			}
			h["Content-Length"] = []string{tokenLen}
			_, _ = w.Write(token)
		case http.MethodGet:
			if v := r.Header[tokenHeader]; len(v) != 1 || v[0] != baselineToken {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h["Content-Length"] = []string{valueLen}
			_, _ = w.Write(value)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}

// ServeBaseline serves the baseline, baselineHandler, on addr until ctx
// is done: what "imdsbench baseline --listen ADDR" runs. Like imdsd, it
// closes the connection after every response.
func ServeBaseline(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	srv := &http.Server{Handler: baselineHandler()}
	srv.SetKeepAlivesEnabled(false)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("baseline: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("baseline: %w", err)
	}
	return nil
}
