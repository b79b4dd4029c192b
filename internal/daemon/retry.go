// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"
)

// policy says how retry repeats one step that waits for something outside
// weftd (etcd, the config, the underlay). Its constants are per step: a
// start-up wait can poll quickly, a lease acquisition that failed for lack
// of free subnets should not hammer etcd.
type policy struct {
	// step names the step in the log (field step), e.g. "acquire lease".
	step string
	// warn is the warning logged once when an incident starts, e.g.
	// "cannot acquire a lease; retrying". describe, when set, picks it per
	// error instead, so that a wait can say what it waits for; a changed
	// description is logged again (etcd answers now, but has no config).
	warn     string
	describe func(error) string
	// initial is the first delay, doubled after each failure up to max.
	initial, max time.Duration
	// jitter takes up to this fraction off each delay, so nodes that failed
	// together (an etcd outage) do not retry in step. 0 means none.
	jitter float64
	// timeout bounds one attempt; 0 means only ctx does.
	timeout time.Duration
}

// permanentError stops retry: the step failed in a way that waiting cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent marks err as not worth retrying; retry returns err itself.
func permanent(err error) error { return permanentError{err} }

// retry calls fn until it succeeds, returns a permanent error, or ctx ends
// (then it returns ctx.Err(), wrapped with the step). It logs once per
// incident: a warning with the error at the first failure, and an info line
// with the attempts and the time it took when fn succeeds after failing.
// Each retry in between is logged at debug level only.
func retry(ctx context.Context, log logrus.FieldLogger, p policy, fn func(context.Context) error) error {
	log = log.WithField("step", p.step)
	start := time.Now()
	attempts, warned := 0, ""
	for {
		err := attempt(ctx, p.timeout, fn)
		attempts++
		var perm permanentError
		switch {
		case err == nil:
			if attempts > 1 {
				log.WithFields(logrus.Fields{"attempts": attempts, "duration": time.Since(start).Round(time.Millisecond).String()}).
					Info("recovered after retrying")
			}
			return nil
		case errors.As(err, &perm):
			return perm.err
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w", p.step, ctx.Err())
		}
		msg := p.warn
		if p.describe != nil {
			msg = p.describe(err)
		}
		if msg != warned {
			log.WithError(err).Warn(msg)
			warned = msg
		} else {
			log.WithError(err).WithField("attempts", attempts).Debug(msg)
		}
		t := time.NewTimer(p.delay(attempts))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", p.step, ctx.Err())
		case <-t.C:
		}
	}
}

func attempt(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	if timeout <= 0 {
		return fn(ctx)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(cctx)
}

// delay is the wait after the n-th consecutive failure (n ≥ 1): initial
// doubled n-1 times, capped at max, less up to jitter of it. It never
// exceeds max.
func (p policy) delay(n int) time.Duration {
	d := p.max
	if shift := n - 1; shift < 63 && p.initial <= p.max>>shift { // no overflow
		d = p.initial << shift
	}
	if p.jitter > 0 && d > 0 {
		d -= time.Duration(rand.Float64() * p.jitter * float64(d))
	}
	return d
}
