// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package poll

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestUntilReturnsWhenTrue(t *testing.T) {
	var calls atomic.Int32
	Until(t, time.Minute, "the third call", func() (bool, string) {
		n := calls.Add(1)
		return n == 3, fmt.Sprintf("call %d", n)
	})
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3 (stop at the first true)", n)
	}
}

func TestUntilFailsWithTheLastDetail(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	Until(r, 20*time.Millisecond, "a route", func() (bool, string) {
		calls++
		return false, fmt.Sprintf("no route after %d calls", calls)
	})
	want := fmt.Sprintf("waiting for a route (last: no route after %d calls)", calls)
	if !strings.Contains(r.failed, want) {
		t.Errorf("failure = %q, want it to contain %q", r.failed, want)
	}
	if calls < 2 {
		t.Errorf("cond called %d times before giving up, want it polled", calls)
	}
}

func TestTrue(t *testing.T) {
	r := &recorder{TB: t}
	True(r, time.Millisecond, "never", func() bool { return false })
	if !strings.Contains(r.failed, "waiting for never") {
		t.Errorf("failure = %q, want it to name what it waited for", r.failed)
	}
	calls := 0
	True(t, time.Minute, "the second call", func() bool { calls++; return calls == 2 })
	if calls != 2 {
		t.Errorf("cond called %d times, want 2", calls)
	}
}
