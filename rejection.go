package comfybatch

import (
	"fmt"
	"strconv"
	"strings"
)

// Kinds of Scored.Rejected reasons. The reason text is written by the
// functions below and read back by ParseRejection, so the selection, the
// queries and the report agree on one vocabulary.
const (
	RejectGate          = "gate"           // "gate <scorer>.<metric>: 12 < min 50"
	RejectMissingMetric = "missing_metric" // "missing metric <scorer>.<metric>"
	RejectScoringError  = "scoring_error"  // "scoring error: <scorer>: <message>; ..."
	RejectNearDuplicate = "near_duplicate" // "near-duplicate of job 7"
	RejectOther         = "other"          // any other reason
)

// GateReason says that metric ("scorer.metric") with value v is outside
// bound, e.g. GateReason("sharpness.laplacian_var", 12, "<", "min", 50).
func GateReason(metric string, v float64, op, bound string, limit float64) string {
	return fmt.Sprintf("gate %s: %.4g %s %s %.4g", metric, v, op, bound, limit)
}

// MissingMetricReason says a weighted or gated metric was not reported.
func MissingMetricReason(metric string) string { return "missing metric " + metric }

// ScoringErrorReason lists scorer failures, each "scorer: message".
func ScoringErrorReason(errs []string) string { return "scoring error: " + strings.Join(errs, "; ") }

// NearDuplicateReason says a candidate resembles the selected job with
// plan index of.
func NearDuplicateReason(of int) string { return fmt.Sprintf("near-duplicate of job %d", of) }

// NearDuplicateImageReason says a candidate resembles one image of the
// selected job with plan index of, when that job yielded several: the one
// its output node saved at batchIndex ("near-duplicate of job 7 image
// 9/2"). ParseRejection reads the job index from it as from
// NearDuplicateReason.
func NearDuplicateImageReason(of int, output string, batchIndex int) string {
	return fmt.Sprintf("near-duplicate of job %d image %s/%d", of, output, batchIndex)
}

// ParseRejection returns the kind of a Rejected reason and what it names:
// the metric for gates and missing metrics, the first failing scorer for
// scoring errors, the job index for near-duplicates. An empty reason gives
// "", "".
func ParseRejection(reason string) (kind, name string) {
	if reason == "" {
		return "", ""
	}
	if rest, ok := strings.CutPrefix(reason, "gate "); ok {
		name, _, _ = strings.Cut(rest, ":")
		return RejectGate, strings.TrimSpace(name)
	}
	if rest, ok := strings.CutPrefix(reason, "missing metric "); ok {
		return RejectMissingMetric, strings.TrimSpace(rest)
	}
	if rest, ok := strings.CutPrefix(reason, "scoring error: "); ok {
		name, _, _ = strings.Cut(rest, ":")
		return RejectScoringError, strings.TrimSpace(name)
	}
	if rest, ok := strings.CutPrefix(reason, "near-duplicate"); ok {
		idx := strings.TrimSpace(strings.TrimPrefix(rest, " of job"))
		idx, _, _ = strings.Cut(idx, " ") // "7 image 9/2"
		if _, err := strconv.Atoi(idx); err != nil {
			idx = ""
		}
		return RejectNearDuplicate, idx
	}
	return RejectOther, ""
}
