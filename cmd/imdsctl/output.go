package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imdsd/imdsd/internal/control"
)

// printGuests prints the guest list as a table, then what was issued to
// each guest, if anything.
func printGuests(w io.Writer, body []byte) error {
	var res struct {
		Guests []control.Guest `json:"guests"`
	}
	if err := decode(body, &res); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMATCH\tSEEN\tFIRST REQUEST\tLAST REQUEST\tRUNTIME")
	for _, g := range res.Guests {
		var rt []string
		if g.Overrides {
			rt = append(rt, "overrides")
		}
		if g.Origin == "runtime" {
			rt = append(rt, "added")
		}
		if n := len(g.Issued); n > 0 {
			rt = append(rt, fmt.Sprintf("%d issued", n))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, dash(g.Name), list(g.Match), list(g.Addresses),
			stamp(g.FirstRequest), stamp(g.LastRequest), dash(strings.Join(rt, ", ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := true
	for _, g := range res.Guests {
		for _, s := range g.Issued {
			if first {
				fmt.Fprintln(w, "\nISSUED")
				first = false
			}
			fmt.Fprintf(w, "%s  %s\n", g.ID, s)
		}
	}
	return nil
}

// printInstances prints a guest's effective instance as indented JSON;
// several guests' as one JSON object by instance id, for jq.
func printInstances(w io.Writer, body []byte) error {
	var res struct {
		Instances []control.Instance `json:"instances"`
	}
	if err := decode(body, &res); err != nil {
		return err
	}
	var v any
	if len(res.Instances) == 1 {
		v = res.Instances[0].Instance
	} else {
		m := make(map[string]json.RawMessage, len(res.Instances))
		for _, in := range res.Instances {
			m[in.ID] = in.Instance
		}
		v = m
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

// printResults prints one line per guest changed: its id and what was done.
func printResults(w io.Writer, body []byte) error {
	var res struct {
		Results []control.Outcome `json:"results"`
	}
	if err := decode(body, &res); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, o := range res.Results {
		fmt.Fprintf(tw, "%s\t%s\n", o.ID, o.Summary)
	}
	return tw.Flush()
}

func decode(body []byte, v any) error {
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		return fmt.Errorf("imdsd's answer is not what imdsctl expects (%v); is imdsctl as recent as imdsd? --json prints it as it is", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func list(l []string) string { return dash(strings.Join(l, ",")) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
