// Package manifests parses, validates and expands comfybatch manifests:
// the YAML files that say which ComfyUI workflow to run, which node inputs
// to vary (seeds, samplers, prompts, reference images), how candidates are
// grouped, scored and selected, and where results go. The language is
// documented in docs/manifest.md.
//
// Entry points: Load (or LoadFS for an fs.FS such as the embedded
// examples, or Parse for bytes in memory) reads a manifest and everything
// it references and reports every problem at once as *Error values with
// file:line:col; Manifest.Plan expands it into comfybatch.Jobs;
// ValidateOnline checks it against the /object_info of ComfyUI instances.
//
// The package does no network I/O and imports no other comfybatch adapter.
// A Manifest is not safe for concurrent modification, but once loaded its
// Plan method may be called from several goroutines.
package manifests
