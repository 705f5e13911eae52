// Package testmanifest derives small, fast variants of the demo manifest
// for tests that run many generations under the race detector, where every
// pixel loop is instrumented and 512² images cost ten times more.
package testmanifest
