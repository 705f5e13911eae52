// Package golden compares test output with files under testdata/ and
// rewrites them on request (go test -update), for the packages whose
// reports and exports are pinned by golden files.
package golden
