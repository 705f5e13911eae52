package examples

import "embed"

// FS holds the examples: manifests (*.yaml), workflows (*.json), prompt
// lists (*.txt, *.jsonl) and reference images (refs/).
//
//go:embed *.yaml *.json *.txt refs
var FS embed.FS
