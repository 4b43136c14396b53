package server

// The front end's request reader for the heads real IMDS clients send.
//
// http.ReadRequest costs about 20 allocations a request (a textproto
// reader, the URL, a string per header value and per uncommon name, the
// transfer reader). parseSimple reads the heads that every real client
// sends (a GET, PUT, HEAD or OPTIONS of a plain path, HTTP/1.0 or 1.1,
// CRLF line ends, header names of letters, digits and dashes, printable
// values) with three: one string of the head, which the method, target
// and values are slices of, one backing array for the values, and the
// header map. Anything else — another method, a query, escapes, an
// absolute target, bare LF, folded lines, a body, Transfer-Encoding,
// Expect, Pragma, Trailer, more than one Host, a Host net/http refuses —
// is not judged here: parseSimple declines it and http.ReadRequest with
// net/http's server checks (parseNetHTTP) decides, as before. So
// parseSimple never accepts or refuses differently from net/http; it only
// accepts, sooner, the requests that net/http also accepts, with the same
// fields (FuzzFrontEnd checks both).

import (
	"net/http"
	"net/url"
)

// commonHeader returns the canonical name c of a header line real clients
// send as a constant, so that reading one does not allocate its name, or
// "".
func commonHeader(c []byte) string {
	switch string(c) {
	case "User-Agent":
		return "User-Agent"
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Connection":
		return "Connection"
	case "Content-Length":
		return "Content-Length"
	case hdrToken:
		return hdrToken
	case hdrTTL:
		return hdrTTL
	case hdrXFF:
		return hdrXFF
	case "Amz-Sdk-Invocation-Id":
		return "Amz-Sdk-Invocation-Id"
	case "Amz-Sdk-Request":
		return "Amz-Sdk-Request"
	}
	return ""
}

// maxSimpleHeaders is the most header lines parseSimple reads; a head
// with more goes to net/http.
const maxSimpleHeaders = 64

// parseSimple returns the request of head as http.ReadRequest and
// net/http's server checks would give it to a handler, or nil when the
// head is not one it reads (then net/http decides). head ends with the
// empty line (headEnd).
func parseSimple(head []byte) *http.Request {
	// The request line: METHOD SP /path SP HTTP/1.x CRLF.
	sp := 0
	for sp < len(head) && sp < 8 && head[sp] != ' ' {
		sp++
	}
	var method string
	switch string(head[:sp]) {
	case http.MethodGet:
		method = http.MethodGet
	case http.MethodPut:
		method = http.MethodPut
	case http.MethodHead:
		method = http.MethodHead
	case http.MethodOptions:
		method = http.MethodOptions
	default:
		return nil
	}
	i := sp + 1
	if i >= len(head) || head[i] != '/' {
		return nil
	}
	uriStart := i
	for i < len(head) && plainPathByte(head[i]) {
		i++
	}
	uriEnd := i
	if len(head)-i < len(" HTTP/1.1\r\n") || head[i] != ' ' || string(head[i+1:i+8]) != "HTTP/1." ||
		head[i+9] != '\r' || head[i+10] != '\n' {
		return nil
	}
	var proto string
	var minor int
	switch head[i+8] {
	case '1':
		proto, minor = "HTTP/1.1", 1
	case '0':
		proto, minor = "HTTP/1.0", 0
	default:
		return nil
	}
	i += 11

	// The header lines: Name: value CRLF, up to the empty line. A first
	// pass checks them and counts the values, a second fills the map.
	lines := 0
	var hostAt, clAt, connAt = -1, -1, -1
	for p := i; ; lines++ {
		if p+1 < len(head) && head[p] == '\r' && head[p+1] == '\n' {
			if p+2 != len(head) {
				return nil
			}
			break
		}
		if lines == maxSimpleHeaders {
			return nil
		}
		n, next, ok := headerLine(head, p)
		if !ok {
			return nil
		}
		switch {
		case asciiEqualFold(head[p:n], "Host"):
			if hostAt >= 0 {
				return nil // net/http refuses more than one
			}
			hostAt = p
		case asciiEqualFold(head[p:n], "Content-Length"):
			if clAt >= 0 {
				return nil
			}
			clAt = p
		case asciiEqualFold(head[p:n], "Connection"):
			if connAt >= 0 {
				return nil
			}
			connAt = p
		case asciiEqualFold(head[p:n], "Transfer-Encoding"), asciiEqualFold(head[p:n], "Expect"),
			asciiEqualFold(head[p:n], "Pragma"), asciiEqualFold(head[p:n], "Trailer"):
			return nil // framing and the like: net/http's to judge
		}
		p = next
	}

	s := string(head) // the one copy: what follows are slices of it
	r := &http.Request{
		Method: method, RequestURI: s[uriStart:uriEnd], Proto: proto, ProtoMajor: 1, ProtoMinor: minor,
		URL: &url.URL{Path: s[uriStart:uriEnd]}, Body: http.NoBody,
	}
	h := make(http.Header, lines)
	vals := make([]string, lines)
	var buf [64]byte
	for p := i; len(s)-p > 2; {
		n, next, _ := headerLine(head, p)
		v := trimBlanks(s[n+1 : next-2])
		var k string
		if c, ok := canonicalName(buf[:0], head[p:n]); ok {
			k = s[p:n]
		} else if k = commonHeader(c); k == "" {
			k = string(c)
		}
		p = next
		if vv := h[k]; vv == nil {
			vv, vals = vals[:1:1], vals[1:]
			vv[0] = v
			h[k] = vv
		} else {
			h[k] = append(vv, v)
		}
	}
	if host, ok := h["Host"]; ok {
		if !validHost(host[0]) {
			return nil
		}
		r.Host = host[0]
		delete(h, "Host")
	}
	if cl, ok := h["Content-Length"]; ok && cl[0] != "0" {
		return nil // a body: net/http reads its framing
	}
	if conn, ok := h["Connection"]; ok {
		switch conn[0] {
		case "close":
			r.Close = true
		case "keep-alive":
		default:
			return nil
		}
	}
	if minor == 0 {
		// HTTP/1.0 closes unless keep-alive is asked for.
		r.Close = !(len(h["Connection"]) > 0 && h["Connection"][0] == "keep-alive")
	}
	r.Header = h
	return r
}

// plainPathByte reports whether c may be in a target parseSimple reads:
// the bytes of a path that url.ParseRequestURI keeps as they are.
func plainPathByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '/' || c == '-' || c == '.' || c == '_' || c == '~'
}

// headerLine checks the header line of head at p: a name of letters,
// digits and dashes, a colon, a value of printable ASCII and blanks, CRLF.
// colon is the colon's index, next the next line's.
func headerLine(head []byte, p int) (colon, next int, ok bool) {
	q := p
	for q < len(head) && nameByte(head[q]) {
		q++
	}
	if q == p || q >= len(head) || head[q] != ':' {
		return 0, 0, false
	}
	colon = q
	for q++; q < len(head); q++ {
		c := head[q]
		if c == '\r' {
			if q+1 < len(head) && head[q+1] == '\n' {
				return colon, q + 2, true
			}
			return 0, 0, false
		}
		if (c < ' ' && c != '\t') || c > '~' {
			return 0, 0, false
		}
	}
	return 0, 0, false
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// canonicalName appends the canonical form of name (textproto's: upper
// case first and after each dash, lower case elsewhere) to b, and reports
// whether name was in it already.
func canonicalName(b, name []byte) ([]byte, bool) {
	same, upper := true, true
	for _, c := range name {
		d := c
		if upper && 'a' <= c && c <= 'z' {
			d -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			d += 'a' - 'A'
		}
		same = same && d == c
		b = append(b, d)
		upper = c == '-'
	}
	return b, same
}

// trimBlanks removes leading and trailing blanks, as textproto does from
// header values.
func trimBlanks(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
