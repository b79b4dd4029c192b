// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// fastPolicy retries within milliseconds, so the tests run the real loop.
var fastPolicy = policy{step: "test step", warn: "test step failing; retrying", initial: time.Millisecond, max: 2 * time.Millisecond}

func newTestLog() (*logrus.Logger, *logtest.Hook) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	return log, hook
}

// atLevel returns the entries logged at level.
func atLevel(hook *logtest.Hook, level logrus.Level) []logrus.Entry {
	var out []logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Level == level {
			out = append(out, *e)
		}
	}
	return out
}

func TestRetryLogsOncePerIncident(t *testing.T) {
	log, hook := newTestLog()
	errDown := errors.New("etcd down")
	calls := 0
	err := retry(context.Background(), log, fastPolicy, func(context.Context) error {
		calls++
		if calls <= 5 {
			return fmt.Errorf("attempt %d: %w", calls, errDown)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("retry = %v, want nil after fn succeeded", err)
	}
	if calls != 6 {
		t.Fatalf("fn called %d times, want 6 (5 failures, then success)", calls)
	}
	warns := atLevel(hook, logrus.WarnLevel)
	if len(warns) != 1 {
		t.Fatalf("got %d warnings for one incident, want 1: %v", len(warns), warns)
	}
	w := warns[0]
	if w.Message != fastPolicy.warn || w.Data["step"] != fastPolicy.step || !errors.Is(w.Data[logrus.ErrorKey].(error), errDown) {
		t.Errorf("warning = %q %v, want %q with step and the first error", w.Message, w.Data, fastPolicy.warn)
	}
	infos := atLevel(hook, logrus.InfoLevel)
	if len(infos) != 1 {
		t.Fatalf("got %d info lines, want 1 recovery line: %v", len(infos), infos)
	}
	r := infos[0]
	if r.Message != "recovered after retrying" || r.Data["attempts"] != 6 || r.Data["step"] != fastPolicy.step {
		t.Errorf("recovery = %q %v, want attempts=6 and the step", r.Message, r.Data)
	}
	if d, err := time.ParseDuration(fmt.Sprint(r.Data["duration"])); err != nil || d <= 0 {
		t.Errorf("recovery duration = %v, want a positive duration", r.Data["duration"])
	}
	// The retries in between are there for --log-level=debug, one each.
	if got := len(atLevel(hook, logrus.DebugLevel)); got != 4 {
		t.Errorf("got %d debug lines, want 4 (one per retry after the first failure)", got)
	}
}

func TestRetryQuietWhenNothingFails(t *testing.T) {
	log, hook := newTestLog()
	if err := retry(context.Background(), log, fastPolicy, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := len(hook.AllEntries()); n != 0 {
		t.Errorf("got %d log lines for a first-time success, want none", n)
	}
}

// A wait whose reason changes (etcd answers now, but holds no config) says
// so once more: the operator's next step changed.
func TestRetryLogsAChangedReason(t *testing.T) {
	log, hook := newTestLog()
	p := fastPolicy
	p.describe = func(err error) string { return "waiting for " + strings.Fields(err.Error())[0] }
	errs := []string{"etcd a", "etcd b", "config a", "config b", "config c"}
	calls := 0
	err := retry(context.Background(), log, p, func(context.Context) error {
		calls++
		if calls <= len(errs) {
			return errors.New(errs[calls-1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range atLevel(hook, logrus.WarnLevel) {
		got = append(got, e.Message)
	}
	if want := []string{"waiting for etcd", "waiting for config"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("warnings = %q, want %q", got, want)
	}
	if n := len(atLevel(hook, logrus.InfoLevel)); n != 1 {
		t.Errorf("got %d recovery lines, want 1", n)
	}
}

func TestRetryReturnsCtxErrOnCancel(t *testing.T) {
	log, hook := newTestLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := retry(ctx, log, fastPolicy, func(context.Context) error {
		calls++
		if calls == 3 {
			cancel()
		}
		return errors.New("etcd down")
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("retry = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), fastPolicy.step) {
		t.Errorf("error %q does not name the step %q", err, fastPolicy.step)
	}
	if calls != 3 {
		t.Errorf("fn called %d times, want 3 (none after cancel)", calls)
	}
	if n := len(atLevel(hook, logrus.InfoLevel)); n != 0 {
		t.Errorf("a cancelled wait logged %d recovery lines", n)
	}

	// A wait cancelled while sleeping returns at once, not after the delay.
	slow := fastPolicy
	slow.initial, slow.max = time.Hour, time.Hour
	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- retry(ctx2, log, slow, func(context.Context) error { return errors.New("etcd down") })
	}()
	cancel2()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("retry while sleeping = %v, want context.Canceled", err)
	}
}

func TestRetryTimesOutEachAttempt(t *testing.T) {
	log, _ := newTestLog()
	p := fastPolicy
	p.timeout = time.Millisecond
	calls := 0
	err := retry(context.Background(), log, p, func(ctx context.Context) error {
		calls++
		if calls == 1 {
			<-ctx.Done() // a hung etcd request: the attempt's deadline ends it
			return ctx.Err()
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("retry = %v after %d calls, want nil after 2 (a timed-out attempt is retried)", err, calls)
	}
}

func TestRetryStopsOnPermanentError(t *testing.T) {
	log, _ := newTestLog()
	taken := errors.New("lease taken")
	calls := 0
	err := retry(context.Background(), log, fastPolicy, func(context.Context) error {
		calls++
		return permanent(fmt.Errorf("re-claim: %w", taken))
	})
	if !errors.Is(err, taken) || calls != 1 {
		t.Fatalf("retry = %v after %d calls, want the permanent error after 1", err, calls)
	}
	var perm permanentError
	if errors.As(err, &perm) {
		t.Errorf("retry returned the permanent marker, want the error itself")
	}
}

func TestPolicyDelayBoundedByMax(t *testing.T) {
	for _, p := range []policy{
		{initial: 500 * time.Millisecond, max: 5 * time.Second, jitter: 0.25},
		{initial: time.Second, max: 30 * time.Second, jitter: 0.25},
		{initial: time.Second, max: time.Second},
		{initial: time.Hour, max: 1 << 62, jitter: 0.5}, // doubling would overflow
	} {
		want := p.initial
		for n := 1; n <= 200; n++ {
			d := p.delay(n)
			low := time.Duration(float64(want) * (1 - p.jitter))
			if d > p.max || d > want || d < low {
				t.Fatalf("%+v: delay(%d) = %s, want within [%s, %s] and at most max", p, n, d, low, want)
			}
			if want < p.max/2 {
				want *= 2
			} else {
				want = p.max
			}
		}
	}
}
