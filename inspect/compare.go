package inspect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// Comparison is batch compare: how the candidates of a run fared for each
// value of one parameter (Rows), or each pair of values of two (Cells).
type Comparison struct {
	Run RunSummary
	// By names the compared parameters: one or two.
	By    []string
	Group string // "" for every group
	// Candidates is how many candidates were compared.
	Candidates int
	// Rows has one entry per value of By[0], in natural order, when one
	// parameter is compared.
	Rows []CompareRow
	// RowValues and ColValues are the values of By[0] and By[1] in
	// natural order, and Cells[i][j] the candidates with RowValues[i] and
	// ColValues[j] (nil where there are none), when two are compared.
	RowValues, ColValues []any
	Cells                [][]*Stats
	// Resamples is the number of bootstrap resamples behind every
	// interval; Seed seeds them, so the same run compares the same way
	// every time.
	Resamples int
	Seed      uint64

	// labels writes a value of By[i] for the table (an output node by
	// its title); nil writes it as runview.FormatValue does.
	labels func(name string, v any) string
}

// label writes a value of By[i] for the text table.
func (c *Comparison) label(i int, v any) string {
	if c.labels == nil {
		return runview.FormatValue(v)
	}
	return c.labels(c.By[i], v)
}

// CompareRow is the statistics of the candidates that share one value of
// the compared parameter.
type CompareRow struct {
	// Value is the parameter's value (string, bool, int64, uint64 or
	// float64), nil for candidates that don't have the parameter.
	Value any
	Stats
}

// Stats describe a set of candidates by their totals. Totals are
// normalised within each group, so values spread evenly over groups
// compare fairly; rejected candidates are included (Rank gives them a
// total too).
type Stats struct {
	// N is how many candidates; Passed how many were not rejected,
	// Selected how many were selected.
	N, Passed, Selected int
	// Mean, Median and Best are of their totals.
	Mean, Median, Best float64
	// MeanCI is the 95% bootstrap interval of the mean; nil with fewer
	// than two candidates.
	MeanCI *Interval
	// IsBest marks the set with the highest mean among those of two or
	// more candidates (a single candidate says nothing about the luck of
	// its seed; only when every set has one does the highest lead). Diff
	// is Mean minus the best set's mean (0 for the best; a single
	// candidate may be above it), DiffCI its 95% bootstrap interval (nil
	// for the best set, or when either set has fewer than two candidates).
	// An interval entirely below 0 means the set is behind the best one
	// beyond what the seed-to-seed spread explains.
	IsBest bool
	Diff   float64
	DiffCI *Interval
}

// Interval is a confidence interval.
type Interval struct {
	Lo, Hi float64
}

// Contains reports whether x is inside the interval, ends included.
func (iv Interval) Contains(x float64) bool { return iv.Lo <= x && x <= iv.Hi }

// PassRate is Passed over N, in [0, 1].
func (s Stats) PassRate() float64 {
	if s.N == 0 {
		return 0
	}
	return float64(s.Passed) / float64(s.N)
}

// Behind reports whether the set is clearly behind the best one: the
// interval of its difference lies entirely below 0.
func (s Stats) Behind() bool { return s.DiffCI != nil && s.DiffCI.Hi < 0 }

// CompareOptions configure Compare and CompareBy.
type CompareOptions struct {
	// Resamples is the number of bootstrap resamples; default 2000. On
	// very large runs it is lowered so that resampling draws at most
	// 20 million totals (at least 200 resamples); intervals are then
	// narrow anyway.
	Resamples int
	// Seed seeds the resampling; default 1.
	Seed uint64
	// Now dates a run that has not finished; default time.Now.
	Now func() time.Time
}

const (
	defaultResamples = 2000
	maxDraws         = 20_000_000
	minResamples     = 200
	ciLevel          = 0.95
)

func (o CompareOptions) withDefaults() CompareOptions {
	if o.Resamples <= 0 {
		o.Resamples = defaultResamples
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// bucket gathers the candidates of one value (or pair of values).
type bucket struct {
	values   []any
	totals   []float64
	passed   int
	selected int
	stats    Stats
}

// tabulator groups candidates into buckets by their values of by.
type tabulator struct {
	by      []string
	buckets []*bucket
	index   map[string]*bucket
	n       int
}

func newTabulator(by []string) *tabulator {
	return &tabulator{by: by, index: map[string]*bucket{}}
}

func (t *tabulator) add(c runview.Candidate) {
	vals := make([]any, len(t.by))
	keys := make([]string, len(t.by))
	for i, name := range t.by {
		vals[i], _ = c.Value(name)
		keys[i] = runview.ValueKey(vals[i])
	}
	k := strings.Join(keys, "\x00")
	b, ok := t.index[k]
	if !ok {
		b = &bucket{values: vals}
		t.index[k] = b
		t.buckets = append(t.buckets, b)
	}
	b.totals = append(b.totals, c.Total)
	if c.Rejected == "" {
		b.passed++
	}
	if c.Selected() {
		b.selected++
	}
	t.n++
}

// finish computes every bucket's statistics and intervals, with resamples
// bootstrap resamples from a generator seeded with seed. Buckets are
// resampled in natural order of their values, so the result depends only
// on the candidates and the seed.
func (t *tabulator) finish(resamples int, seed uint64) int {
	slices.SortStableFunc(t.buckets, func(a, b *bucket) int {
		for i := range a.values {
			if c := runview.CompareValues(a.values[i], b.values[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	if t.n > 0 {
		resamples = min(resamples, max(minResamples, maxDraws/t.n))
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	means := make([][]float64, len(t.buckets)) // bootstrap means of each bucket of 2 or more
	best := -1
	for i, b := range t.buckets {
		s := &b.stats
		s.N, s.Passed, s.Selected = len(b.totals), b.passed, b.selected
		s.Mean, s.Median, s.Best = summary(b.totals)
		if s.N >= 2 {
			means[i] = bootstrapMeans(rng, b.totals, resamples)
			s.MeanCI = percentile(slices.Clone(means[i]))
		}
	}
	// The best is the highest mean among the sets that have a spread to
	// compare against; a single candidate says nothing about its seed's
	// luck. Only when no set has two does a single candidate lead.
	for i, b := range t.buckets {
		if best < 0 || better(b, t.buckets[best]) {
			best = i
		}
	}
	if best >= 0 {
		t.buckets[best].stats.IsBest = true
		bm := means[best]
		for i, b := range t.buckets {
			s := &b.stats
			s.Diff = s.Mean - t.buckets[best].stats.Mean
			if i == best || means[i] == nil || bm == nil {
				continue
			}
			d := make([]float64, resamples)
			for k := range d {
				d[k] = means[i][k] - bm[k]
			}
			s.DiffCI = percentile(d)
		}
	}
	return resamples
}

// better reports whether bucket a should be the best instead of b: a set
// of two or more candidates beats a single one, then the higher mean.
func better(a, b *bucket) bool {
	if (len(a.totals) >= 2) != (len(b.totals) >= 2) {
		return len(a.totals) >= 2
	}
	return a.stats.Mean > b.stats.Mean
}

// summary returns the mean, median and maximum of xs, which is not empty.
func summary(xs []float64) (mean, median, best float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	mean = sum / float64(len(s))
	mid := len(s) / 2
	median = s[mid]
	if len(s)%2 == 0 {
		median = (s[mid-1] + s[mid]) / 2
	}
	return mean, median, s[len(s)-1]
}

// bootstrapMeans returns the means of n resamples of xs, each drawn with
// replacement and as large as xs.
func bootstrapMeans(rng *rand.Rand, xs []float64, n int) []float64 {
	out := make([]float64, n)
	for k := range out {
		var sum float64
		for range xs {
			sum += xs[rng.IntN(len(xs))]
		}
		out[k] = sum / float64(len(xs))
	}
	return out
}

// percentile returns the central ciLevel interval of xs (sorting it).
func percentile(xs []float64) *Interval {
	slices.Sort(xs)
	tail := (1 - ciLevel) / 2
	at := func(q float64) float64 {
		i := int(q * float64(len(xs)-1))
		return xs[min(max(i, 0), len(xs)-1)]
	}
	return &Interval{Lo: at(tail), Hi: at(1 - tail)}
}

// CompareBy compares cands by the value of by[0], or by the pairs of
// values of by[0] and by[1], and returns the rows (one parameter) or the
// row values, column values and cells (two). Values sort naturally
// (runview.CompareValues), candidates without a parameter last.
func CompareBy(cands []runview.Candidate, by []string, opts CompareOptions) *Comparison {
	opts = opts.withDefaults()
	t := newTabulator(by)
	for _, c := range cands {
		t.add(c)
	}
	c := &Comparison{By: by}
	c.fill(t, opts)
	return c
}

// fill sets the rows or cells of c from the tabulated candidates.
func (c *Comparison) fill(t *tabulator, opts CompareOptions) {
	c.Candidates = t.n
	c.Seed = opts.Seed
	c.Resamples = t.finish(opts.Resamples, opts.Seed)
	if len(c.By) == 1 {
		c.Rows = make([]CompareRow, len(t.buckets))
		for i, b := range t.buckets {
			c.Rows[i] = CompareRow{Value: b.values[0], Stats: b.stats}
		}
		return
	}
	rows, cols := map[string]int{}, map[string]int{}
	for _, b := range t.buckets {
		if _, ok := rows[runview.ValueKey(b.values[0])]; !ok {
			rows[runview.ValueKey(b.values[0])] = -1
			c.RowValues = append(c.RowValues, b.values[0])
		}
		if _, ok := cols[runview.ValueKey(b.values[1])]; !ok {
			cols[runview.ValueKey(b.values[1])] = -1
			c.ColValues = append(c.ColValues, b.values[1])
		}
	}
	runview.SortValues(c.RowValues)
	runview.SortValues(c.ColValues)
	for i, v := range c.RowValues {
		rows[runview.ValueKey(v)] = i
	}
	for j, v := range c.ColValues {
		cols[runview.ValueKey(v)] = j
	}
	c.Cells = make([][]*Stats, len(c.RowValues))
	for i := range c.Cells {
		c.Cells[i] = make([]*Stats, len(c.ColValues))
	}
	for _, b := range t.buckets {
		s := b.stats
		c.Cells[rows[runview.ValueKey(b.values[0])]][cols[runview.ValueKey(b.values[1])]] = &s
	}
}

// Compare reads the candidates of run r (one group of it, or all when
// group is "") and compares them by one or two parameters, or identity
// fields of the images (runview.Candidate.Value: batch_index, batch_size,
// output). Every image of a prompt counts as a candidate of its own. A
// name no candidate has is an error wrapping store.ErrNotFound that lists
// the ones they do have. Candidates stream: memory holds one total per
// candidate.
func Compare(ctx context.Context, r *runview.Run, by []string, group string, opts CompareOptions) (*Comparison, error) {
	opts = opts.withDefaults()
	if len(by) == 0 || len(by) > 2 {
		return nil, fmt.Errorf("compare by %d parameters: give one or two, as --by sampler_name or --by sampler_name,cfg", len(by))
	}
	if err := r.CheckGroup(group); err != nil {
		return nil, err
	}
	t := newTabulator(by)
	have := map[string]bool{}
	found := make([]bool, len(by))
	err := r.Each(ctx, runview.Filter{Group: group, NoScores: true}, func(c runview.Candidate) error {
		for _, p := range c.Params {
			have[p.Name] = true
		}
		for i, name := range by {
			if !found[i] {
				_, found[i] = c.Value(name)
			}
		}
		t.add(c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Name the identity fields that tell this run's images apart.
	if r.Batched {
		have[runview.BatchIndexName], have[runview.BatchSizeName] = true, true
	}
	if r.MultiOutput() {
		have[runview.OutputName] = true
	}
	for i, name := range by {
		if t.n > 0 && !found[i] {
			names := make([]string, 0, len(have))
			for n := range have {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("no candidate of run %d has param %q (they have %s): %w",
				r.ID, name, strings.Join(names, ", "), store.ErrNotFound)
		}
	}
	c := &Comparison{Run: Summary(r, opts.Now()), By: by, Group: group, labels: r.ValueLabel}
	c.fill(t, opts)
	return c, nil
}
