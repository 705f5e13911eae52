package inspect_test

import (
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/store"
)

func TestNewRunSummary(t *testing.T) {
	started := base
	counts := store.Counts{All: store.Tally{Total: 10, Done: 7, Failed: 1, Pending: 2}}
	for _, tc := range []struct {
		name string
		run  store.Run
		now  time.Time
		want time.Duration
	}{
		{"finished", store.Run{Started: started, Finished: started.Add(90 * time.Minute), Status: store.RunDone},
			started.Add(5 * time.Hour), 90 * time.Minute},
		{"running: elapsed until now", store.Run{Started: started, Status: store.RunRunning},
			started.Add(12 * time.Second), 12 * time.Second},
		{"running, clock behind start", store.Run{Started: started, Status: store.RunRunning},
			started.Add(-time.Second), 0},
		{"never started", store.Run{Status: store.RunRunning}, started, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run.ID, tc.run.Name = 4, "nightly"
			got := inspect.NewRunSummary(tc.run, counts, 3, tc.now)
			if got.Duration != tc.want {
				t.Errorf("Duration = %v, want %v", got.Duration, tc.want)
			}
			if got.ID != 4 || got.Name != "nightly" || got.Status != tc.run.Status || got.Jobs != counts.All || got.Selected != 3 {
				t.Errorf("NewRunSummary = %+v, want id 4, name nightly, status %s, jobs %+v, selected 3",
					got, tc.run.Status, counts.All)
			}
		})
	}
}
