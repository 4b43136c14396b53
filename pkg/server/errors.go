package server

import (
	"net/http"
	"strconv"
)

// errorReply is EC2's answer for an error status. 401, 403 and 405 have
// empty text/plain bodies, as current captures show; every other error
// carries EC2's XHTML page (339 bytes for 404, 359 for 503).
func errorReply(status int) reply {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed:
		return reply{status: status, ctype: "text/plain"}
	}
	if status < 400 {
		return reply{status: status, ctype: "text/plain"}
	}
	return reply{status: status, ctype: "text/html", body: ErrorPage(status)}
}

// ErrorPage returns EC2's XHTML error page for status. The third line
// starts with two tabs and a space, and the page ends in a newline, as on
// the wire.
func ErrorPage(status int) []byte {
	title := strconv.Itoa(status) + " - " + statusText(status)
	return []byte(`<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
		 "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>` + title + `</title>
 </head>
 <body>
  <h1>` + title + `</h1>
 </body>
</html>
`)
}

// statusText is net/http's reason phrase, except where EC2 words it
// differently.
func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}
