package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// check is how a figure is held against its target.
type check int

const (
	info     check = iota // reported, no target
	maxValue              // imdsd's value at most limit
	minRatio              // imdsd ÷ baseline at least limit
	maxRatio              // imdsd ÷ baseline at most limit
)

// figure is one row of the report. Values are nil when not measured.
type figure struct {
	Name     string   `json:"name"`
	Unit     string   `json:"unit"`
	IMDSD    *float64 `json:"imdsd"`
	Baseline *float64 `json:"baseline,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"` // imdsd ÷ baseline
	Target   string   `json:"target,omitempty"`
	Pass     *bool    `json:"pass,omitempty"`

	check   check
	limit   float64
	noRatio bool // the ratio of the two values means nothing
}

// judge works out the ratio, the target text and whether it was met.
func (f *figure) judge() {
	if f.IMDSD != nil && f.Baseline != nil && *f.Baseline != 0 && !f.noRatio {
		r := *f.IMDSD / *f.Baseline
		f.Ratio = &r
	}
	var pass bool
	switch f.check {
	case info:
		return
	case maxValue:
		f.Target = "≤ " + strconv.FormatFloat(f.limit, 'f', -1, 64)
		if f.Unit == "×" {
			f.Target += "×"
		}
		if f.limit == 0 {
			f.Target = "= 0"
		}
		if f.IMDSD == nil {
			return
		}
		pass = *f.IMDSD <= f.limit
	case minRatio:
		f.Target = "≥ " + strconv.FormatFloat(f.limit, 'f', -1, 64) + "×"
		if f.Ratio == nil {
			return
		}
		pass = *f.Ratio >= f.limit
	case maxRatio:
		f.Target = "≤ " + strconv.FormatFloat(f.limit, 'f', -1, 64) + "×"
		if f.Ratio == nil {
			return
		}
		pass = *f.Ratio <= f.limit
	}
	f.Pass = &pass
}

func num(v float64) *float64 { return &v }

// format prints v in unit.
func format(v float64, unit string) string {
	switch unit {
	case "ms":
		if math.Abs(v) < 10 {
			return fmt.Sprintf("%.3f", v)
		}
		return fmt.Sprintf("%.1f", v)
	case "MB":
		return fmt.Sprintf("%.1f", v)
	case "s":
		return fmt.Sprintf("%.2f", v)
	case "×":
		return fmt.Sprintf("%.2f×", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func formatPtr(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return format(*v, unit)
}

// printTable writes the figures as a fixed-width table: names flush left,
// values flush right.
func printTable(w io.Writer, figs []figure) error {
	rows := [][]string{{"figure", "unit", "imdsd", "baseline", "ratio", "target", "result"}}
	for _, f := range figs {
		res := "-"
		if f.Pass != nil {
			res = "FAIL"
			if *f.Pass {
				res = "PASS"
			}
		}
		ratio := "-"
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%.2f×", *f.Ratio)
		}
		target := f.Target
		if target == "" {
			target = "-"
		}
		rows = append(rows, []string{f.Name, f.Unit,
			formatPtr(f.IMDSD, f.Unit), formatPtr(f.Baseline, f.Unit), ratio, target, res})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			case i == 1:
				b.WriteString("  " + c + pad)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// report is what --json writes.
type report struct {
	Tool     string   `json:"tool"`
	IMDSD    string   `json:"imdsd"`
	Version  string   `json:"imdsd_version"`
	Go       string   `json:"go"`
	OS       string   `json:"os"`
	Arch     string   `json:"arch"`
	CPUs     int      `json:"cpus"`
	LoadAvg  string   `json:"loadavg,omitempty"`
	Duration string   `json:"duration_per_figure"`
	Started  string   `json:"started"`
	Figures  []figure `json:"figures"`
	Notes    []string `json:"notes,omitempty"`
}

// writeJSON writes r to path, replacing it whole.
func writeJSON(path string, r *report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
