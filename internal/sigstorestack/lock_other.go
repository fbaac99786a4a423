//go:build !unix

package sigstorestack

import "context"

// lockFile is a no-op where flock does not exist; concurrent builds then
// race, and the rename into the cache keeps the result whole.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
