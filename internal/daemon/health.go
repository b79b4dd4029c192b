// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readiness tracks the conditions of /readyz, each with why it fails, and
// notes that show in the body without failing it (an unreachable etcd: the
// dataplane keeps forwarding through an outage). Safe for concurrent use.
type readiness struct {
	mu    sync.Mutex
	conds map[string]string // condition -> why it fails; "" when met
	notes map[string]string
}

var readyConditions = []string{"lease", "subnet-file", "forwarding", "peers", "rules"}

func newReadiness() *readiness {
	r := &readiness{conds: map[string]string{}, notes: map[string]string{}}
	for _, c := range readyConditions {
		r.conds[c] = "waiting"
	}
	return r
}

// set marks cond met, or failing with the generic reason "waiting".
func (r *readiness) set(cond string, ok bool) {
	why := ""
	if !ok {
		why = "waiting"
	}
	r.fail(cond, why)
}

// fail marks cond failing for why ("" marks it met).
func (r *readiness) fail(cond, why string) {
	r.mu.Lock()
	r.conds[cond] = why
	r.mu.Unlock()
}

// note sets an informational line of the body ("" removes it).
func (r *readiness) note(key, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if text == "" {
		delete(r.notes, key)
		return
	}
	r.notes[key] = text
}

// missing lists the conditions not met, in a fixed order, as "cond: why".
func (r *readiness) missing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range readyConditions {
		if why := r.conds[c]; why != "" {
			out = append(out, c+": "+why)
		}
	}
	return out
}

func (r *readiness) noteLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.notes))
	for k, v := range r.notes {
		out = append(out, k+": "+v)
	}
	sort.Strings(out)
	return out
}

// serveHTTP runs the health and metrics listeners until ctx is done. One
// listener serves everything when both addresses are the same.
func (d *daemon) serveHTTP(ctx context.Context) error {
	addrs := map[string]*http.ServeMux{}
	mux := func(addr string) *http.ServeMux {
		if m, ok := addrs[addr]; ok {
			return m
		}
		m := http.NewServeMux()
		addrs[addr] = m
		return m
	}
	if a := d.opts.HealthzAddr; a != "" {
		m := mux(a)
		m.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		m.HandleFunc("/readyz", d.handleReady)
	}
	if a := d.opts.MetricsAddr; a != "" {
		// The same port as the health listener means the same listener,
		// however the host part is spelled (":9471", "0.0.0.0:9471").
		if samePort(a, d.opts.HealthzAddr) {
			a = d.opts.HealthzAddr
		}
		mux(a).Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	}
	if len(addrs) == 0 {
		<-ctx.Done()
		return nil
	}
	errc := make(chan error, len(addrs))
	var servers []*http.Server
	for addr, m := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, s := range servers {
				_ = s.Close()
			}
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		s := &http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, s)
		go func() { errc <- s.Serve(ln) }()
		d.log.WithField("addr", addr).Info("serving health and metrics")
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			d.log.WithError(err).Error("health server stopped")
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	return nil
}

// handleReady answers 200 "ready" or 503 "not ready", one failing
// condition a line with its reason, then the notes.
func (d *daemon) handleReady(w http.ResponseWriter, _ *http.Request) {
	m := d.ready.missing()
	if len(m) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready\n%s\n", strings.Join(m, "\n"))
	} else {
		fmt.Fprintln(w, "ready")
	}
	for _, n := range d.ready.noteLines() {
		fmt.Fprintln(w, n)
	}
}

func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb
}
