package manifests

import (
	"encoding/json"
)

// Manifest is a loaded and validated manifest. Plan expands it into jobs.
// The exported fields may be adjusted before Plan (the CLI overrides
// Instances and Output; resume restores MasterSeed).
type Manifest struct {
	// Name names the batch; default: the file name without extension.
	Name string
	// Path is the manifest file: absolute for Load, the path inside the
	// file system for LoadFS, the name given to Parse.
	Path string
	// Text is the manifest exactly as read.
	Text []byte
	// Hash is the hex SHA-256 of Text, the workflow bytes and the
	// groups_from file: a run can be resumed only with the same hash.
	Hash string
	// MasterSeed derives every random seed. When the manifest has no
	// master_seed, one is chosen at load and MasterSeedChosen is true.
	MasterSeed       uint64
	MasterSeedChosen bool
	// WorkflowPath is the workflow file as resolved from the manifest.
	WorkflowPath string
	// Workflow is the API-format workflow as loaded.
	Workflow json.RawMessage
	// Instances are the ComfyUI servers declared in the manifest (may be
	// empty: the CLI can supply them).
	Instances []Instance
	// Scorers are the scorer declarations, in manifest order.
	Scorers []ScorerSpec
	// Select holds the selection settings.
	Select SelectSpec
	// Output says where runs and the database live.
	Output OutputSpec
	// Groups are the groups in plan order (groups:, then groups_from:).
	Groups []GroupSpec
	// Combine is "matrix" (cartesian product, the default) or "zip".
	Combine string
	// Tags are instance tags every job requires (each group may add more).
	Tags []string
	// Outputs are the ids of the output nodes whose images are candidates:
	// outputs: in the manifest, else the workflow's SaveImage nodes.
	Outputs []string

	bindings    map[string]*binding // param name -> resolved binding
	sweep       []*axisSpec         // swept params, manifest order
	groups      []*group            // parallel to Groups
	scorerDecls []scorerDecl        // parallel to Scorers
	wf          *workflow
	file        string // display name for errors
}

// Instance is one ComfyUI server.
type Instance struct {
	Name     string            // default: host:port of URL
	URL      string            // base URL, for example http://gpu1:8188
	Headers  map[string]string // sent with every request; ${ENV} expanded at load
	InFlight int               // prompts kept queued on the server; default 2
	Weight   float64           // speed relative to the others (2 = twice as fast); default 1
	Tags     []string          // capabilities jobs may require
	Tier     int               // 0 primary, 1 secondary, ...: higher tiers get work only when lower ones are full
}

// Pos is a 1-based line and column in the manifest.
type Pos struct {
	Line, Col int
}

// ScorerSpec declares one scorer.
type ScorerSpec struct {
	// Type is the name of one of ScorerTypes.
	Type string
	// Name names the scorer's results; default: Type. Unique.
	Name string
	// Weight is the weight of the primary metric (see PrimaryMetric).
	Weight float64
	// Normalize is the default normalisation of the scorer's metrics
	// within a group: "rank" (the default), "minmax" or "raw".
	Normalize string
	// Metrics are the metrics that count, including the primary one.
	Metrics map[string]MetricSpec
	// Options are the type's typed options, decoded and validated: one of
	// the *Options structs of this package, matching Type (see
	// ScorerTypes).
	Options ScorerOptions
	// Pos is where the scorer is declared.
	Pos Pos
}

// MetricSpec says how one metric counts: its weight in the total, an
// optional gate on its raw value and its normalisation ("" = the scorer's).
type MetricSpec struct {
	Weight    float64
	Min, Max  *float64
	Normalize string
}

// SelectSpec holds the selection settings.
type SelectSpec struct {
	// TopK is how many candidates each group delivers; 0 = all of them.
	TopK int
	// MinScore rejects candidates whose total is below it.
	MinScore *float64
	// PhashDistance > 0 rejects a candidate whose perceptual hash is within
	// this Hamming distance of one already selected (needs a phash scorer).
	PhashDistance int
	// AcceptShortfall makes a group that delivers fewer than its top_k
	// (its gates rejected too many) acceptable: the run still reports the
	// shortfall but does not count it as a problem for the exit code.
	AcceptShortfall bool
}

// OutputSpec says where runs are written.
type OutputSpec struct {
	Dir      string // run folders live here; absolute for Load
	Database string // the SQLite file; default Dir/comfybatch.db
}

// GroupSpec is one group of candidates.
type GroupSpec struct {
	Name  string
	TopK  int      // per-group top_k; 0 = the manifest's select.top_k
	Count int      // candidates (images) planned for the group
	Jobs  int      // jobs (prompts) planned for the group
	Tags  []string // instance tags the group's jobs require, with the manifest's
}

// TopKFor returns how many candidates the named group delivers: its own
// top_k, else select.top_k, else all of its candidates.
func (m *Manifest) TopKFor(group string) int {
	for _, g := range m.Groups {
		if g.Name == group {
			switch {
			case g.TopK > 0:
				return g.TopK
			case m.Select.TopK > 0:
				return m.Select.TopK
			}
			return g.Count
		}
	}
	return m.Select.TopK
}
