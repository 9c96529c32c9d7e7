package bench

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		xs   []float64
		p    float64
		want float64
	}{
		"odd median":        {xs: []float64{5, 1, 3}, p: 50, want: 3},
		"even median":       {xs: []float64{4, 1, 3, 2}, p: 50, want: 2.5},
		"one value":         {xs: []float64{7}, p: 99, want: 7},
		"p99 interpolates":  {xs: []float64{0, 100}, p: 99, want: 99},
		"p0 is the minimum": {xs: []float64{9, 2, 5}, p: 0, want: 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tc.xs, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
			}
		})
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	xs := []float64{3, 1, 2}
	median(xs)
	if xs[0] != 3 || xs[1] != 1 {
		t.Error("median reordered its input")
	}
}
