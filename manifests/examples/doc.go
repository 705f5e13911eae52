// Package examples holds the example manifests, their workflows and the
// files they reference, embedded so that `batch demo` needs no files.
package examples
