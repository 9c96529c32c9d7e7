package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Figure is one measured number.
type Figure struct {
	// Name is the machine-readable name printed after BENCH.
	Name string
	// Value is the number; NaN when it could not be measured (Note says why).
	Value float64
	// Unit is "us", "ms", "x", "MB", "per_s", ...
	Unit string
	// Label says what the number is, for people.
	Label string
	// Goal, when set, is the goal for this figure.
	Goal *Goal
	// Note says how it was measured, or why it is missing.
	Note string
}

// Goal is a bound a figure should respect.
type Goal struct {
	// AtMost: the figure meets the goal when Value <= Bound; otherwise when
	// Value >= Bound.
	AtMost bool
	Bound  float64
}

// Met reports whether v meets the goal (false for NaN).
func (g Goal) Met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if g.AtMost {
		return v <= g.Bound
	}
	return v >= g.Bound
}

func (g Goal) String() string {
	op := "≥"
	if g.AtMost {
		op = "≤"
	}
	return op + " " + formatValue(g.Bound)
}

// Section is a group of figures with a heading.
type Section struct {
	Title   string
	Figures []Figure
}

// Report is everything one run measured, in order.
type Report struct {
	// Machine describes where it ran (CPU, cores, Go version, OS).
	Machine  string
	Sections []Section
}

// add appends figures to the section titled title, creating it.
func (r *Report) add(title string, figs ...Figure) {
	for i := range r.Sections {
		if r.Sections[i].Title == title {
			r.Sections[i].Figures = append(r.Sections[i].Figures, figs...)
			return
		}
	}
	r.Sections = append(r.Sections, Section{Title: title, Figures: figs})
}

// Figures is every figure in order.
func (r *Report) Figures() []Figure {
	var out []Figure
	for _, s := range r.Sections {
		out = append(out, s.Figures...)
	}
	return out
}

// Lookup returns the figure named name.
func (r *Report) Lookup(name string) (Figure, bool) {
	for _, f := range r.Figures() {
		if f.Name == name {
			return f, true
		}
	}
	return Figure{}, false
}

// WriteTable writes the readable table.
func (r *Report) WriteTable(w io.Writer) error {
	if r.Machine != "" {
		if _, err := fmt.Fprintf(w, "machine: %s\n", r.Machine); err != nil {
			return err
		}
	}
	for _, s := range r.Sections {
		if _, err := fmt.Fprintf(w, "\n== %s\n", s.Title); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range s.Figures {
			goal := ""
			if f.Goal != nil {
				verdict := "MET"
				if !f.Goal.Met(f.Value) {
					verdict = "NOT MET"
				}
				goal = fmt.Sprintf("goal %s: %s", f.Goal, verdict)
			}
			fmt.Fprintf(tw, "  %s\t%s %s\t%s\t%s\n", f.Label, formatValue(f.Value), f.Unit, goal, f.Note)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// WriteLines writes one `BENCH <name> <value> <unit>` line per figure.
func (r *Report) WriteLines(w io.Writer) error {
	for _, f := range r.Figures() {
		if _, err := fmt.Fprintf(w, "BENCH %s %s %s\n", f.Name, formatValue(f.Value), f.Unit); err != nil {
			return err
		}
	}
	return nil
}

// formatValue prints a value with three significant decimals at most.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 2, 64), ".00")
	}
}

// ParseLines reads BENCH lines back (the smoke test, and anyone comparing
// runs): name to value.
func ParseLines(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "BENCH" {
			continue
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			v = math.NaN()
		}
		out[f[1]] = v
	}
	return out
}
