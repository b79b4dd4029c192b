// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"context"
	"strings"
	"time"

	"github.com/google/nftables"
)

// settle is how long Run lets a burst of nftables changes (an
// iptables-restore, a firewall reload) finish before it checks.
const settle = 200 * time.Millisecond

// Run keeps the rules installed until ctx is done: it applies them at once,
// then checks every Config.Interval and, sooner, after any nftables change
// in the namespace (a deleted table, a flushed FORWARD chain). A check
// changes only what differs. Failures are logged and retried at the next
// check; Run returns nil when ctx is done and starts no goroutine that
// outlives it. It leaves the rules in place on return (see Remove).
func (m *Manager) Run(ctx context.Context) error {
	w := m.watch()
	defer func() { w.stop() }()
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	full, lastErr := true, ""
	for {
		lastErr = m.check(full, lastErr)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			full = true
		case <-w.changed:
			if !sleepCtx(ctx, settle) {
				return nil
			}
			full = false // an nftables change: legacy iptables waits for the tick
		}
		if w.dead() {
			// The monitor stopped (socket error, overrun): start a new one,
			// the periodic check covers the gap.
			w.stop()
			w = m.watch()
		}
	}
}

// check runs one ensure and logs what it did. A failure is logged at Warn
// when it differs from the previous one (lastErr), so a lasting problem does
// not log every Interval; it returns the failure's text.
func (m *Manager) check(withLegacy bool, lastErr string) string {
	was := m.Installed()
	changed, err := m.ensure(withLegacy)
	log := m.log
	if len(changed) > 0 {
		log = log.WithField("changed", strings.Join(changed, ", "))
	}
	switch {
	case err != nil && err.Error() == lastErr:
		log.WithError(err).Debug("masquerade and forward rules still incomplete, retrying")
	case err != nil:
		log.WithError(err).Warn("masquerade and forward rules incomplete, retrying")
		return err.Error()
	case len(changed) > 0 && was:
		log.Info("masquerade and forward rules repaired")
	case len(changed) > 0 || !was:
		log.Info("masquerade and forward rules installed")
	default:
		log.Debug("masquerade and forward rules in place")
	}
	if err != nil {
		return lastErr
	}
	return ""
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watcher turns nftables change notifications into a level signal.
type watcher struct {
	changed chan struct{} // one pending signal at most
	done    chan struct{} // closed when the monitor ended
	mon     *nftables.Monitor
}

// watch subscribes to nftables changes in the Manager's namespace. Without
// a monitor (subscribing failed) it returns a watcher that never signals
// and reports dead, so Run retries at the next tick.
func (m *Manager) watch() *watcher {
	w := &watcher{changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.mon = nftables.NewMonitor()
	events, err := m.nft.AddGenerationalMonitor(w.mon)
	if err != nil {
		m.log.WithError(err).Debug("nftables monitor unavailable, checking periodically only")
		w.mon = nil
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		// Read until the monitor closes the channel: the monitor's
		// goroutine blocks on sending, so stopping early would leak it.
		for range events {
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

func (w *watcher) dead() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// stop closes the monitor and waits for its goroutines to end.
func (w *watcher) stop() {
	if w.mon != nil {
		_ = w.mon.Close()
	}
	<-w.done
}
