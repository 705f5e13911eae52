package manifests_test

import (
	"testing"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// BenchmarkPlanHeadshots expands the 480-job headshots example.
func BenchmarkPlanHeadshots(b *testing.B) {
	m, err := manifests.LoadFS(examples.FS, "headshots.yaml")
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		p, err := m.Plan()
		if err != nil {
			b.Fatal(err)
		}
		n = len(p.Jobs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/job")
}

// BenchmarkLoadDemo parses and validates the demo manifest and workflow.
func BenchmarkLoadDemo(b *testing.B) {
	for b.Loop() {
		if _, err := manifests.LoadFS(examples.FS, "demo.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
