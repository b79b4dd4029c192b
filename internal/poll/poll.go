// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package poll waits, in tests, for a condition that something else makes
// true: a daemon programming a route, a loop restoring a rule. Waits are for
// correctness, never for speed: the timeout is a generous bound on a hang,
// and nothing is asserted about how long the wait took.
package poll

import (
	"testing"
	"time"
)

// Polling starts fast, so a quick condition costs little, and backs off to
// maxInterval, so a slow one (a namespace, an etcd round trip) is not hammered.
const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 200 * time.Millisecond
)

// Until calls cond until it reports true, and fails t if timeout passes
// first, naming what it waited for and the detail cond gave last (what it
// saw instead, a diff).
func Until(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := firstInterval; ; wait = min(wait*2, maxInterval) {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
			return // t.Fatalf has ended the goroutine; this is for fakes of testing.TB
		}
		time.Sleep(wait)
	}
}

// True is Until for a condition without detail.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, timeout, what, func() (bool, string) { return cond(), "false" })
}
