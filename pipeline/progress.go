package pipeline

import (
	"sync/atomic"
	"time"
)

// Progress counts a run's jobs as they finish. The pipeline's workers bump
// the counters; one renderer (the CLI's progress bar) reads them.
type Progress struct {
	Total   atomic.Int64 // jobs in the plan
	Skipped atomic.Int64 // finished by an earlier process
	Done    atomic.Int64 // generated, scored and recorded by this process
	Failed  atomic.Int64 // ended without an image in this process
	Started atomic.Int64 // unix ms when generation started
}

func (p *Progress) start(total int) {
	p.Total.Store(int64(total))
	p.Skipped.Store(0)
	p.Started.Store(time.Now().UnixMilli())
}

// Snapshot is a consistent-enough copy of Progress for display.
type Snapshot struct {
	Total, Skipped, Done, Failed int
	Elapsed                      time.Duration
	// Rate is jobs finished per second in this process; ETA the time left
	// at that rate (0 when unknown).
	Rate float64
	ETA  time.Duration
}

// Snapshot reads the counters.
func (p *Progress) Snapshot(now time.Time) Snapshot {
	s := Snapshot{
		Total: int(p.Total.Load()), Skipped: int(p.Skipped.Load()),
		Done: int(p.Done.Load()), Failed: int(p.Failed.Load()),
	}
	if st := p.Started.Load(); st > 0 {
		s.Elapsed = now.Sub(time.UnixMilli(st))
	}
	finished := s.Done + s.Failed
	if s.Elapsed > 0 && finished > 0 {
		s.Rate = float64(finished) / s.Elapsed.Seconds()
		left := s.Total - s.Skipped - finished
		s.ETA = time.Duration(float64(left) / s.Rate * float64(time.Second))
	}
	return s
}
