package comfybatch

import "testing"

func TestRejectionReasonsRoundTrip(t *testing.T) {
	tests := []struct {
		reason     string
		kind, name string
	}{
		{GateReason("sharpness.laplacian_var", 12, "<", "min", 50), RejectGate, "sharpness.laplacian_var"},
		{MissingMetricReason("clip.similarity"), RejectMissingMetric, "clip.similarity"},
		{ScoringErrorReason([]string{"clip: timeout", "http: 500"}), RejectScoringError, "clip"},
		{NearDuplicateReason(7), RejectNearDuplicate, "7"},
		{NearDuplicateImageReason(7, "9", 2), RejectNearDuplicate, "7"},
		{"near-duplicate", RejectNearDuplicate, ""},
		{"something else", RejectOther, ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		kind, name := ParseRejection(tt.reason)
		if kind != tt.kind || name != tt.name {
			t.Errorf("ParseRejection(%q) = %q, %q; want %q, %q", tt.reason, kind, name, tt.kind, tt.name)
		}
	}
	if got, want := GateReason("s.m", 12, "<", "min", 50), "gate s.m: 12 < min 50"; got != want {
		t.Errorf("GateReason = %q, want %q", got, want)
	}
}
