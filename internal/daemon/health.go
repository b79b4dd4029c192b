// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readiness tracks the conditions of /readyz. Safe for concurrent use.
type readiness struct {
	mu    sync.Mutex
	conds map[string]bool
}

var readyConditions = []string{"lease", "subnet-file", "peers", "rules"}

func newReadiness() *readiness {
	r := &readiness{conds: map[string]bool{}}
	for _, c := range readyConditions {
		r.conds[c] = false
	}
	return r
}

func (r *readiness) set(cond string, ok bool) {
	r.mu.Lock()
	r.conds[cond] = ok
	r.mu.Unlock()
}

// missing lists the conditions not met yet, in a fixed order.
func (r *readiness) missing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range readyConditions {
		if !r.conds[c] {
			out = append(out, c)
		}
	}
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

func (d *daemon) handleReady(w http.ResponseWriter, _ *http.Request) {
	if m := d.ready.missing(); len(m) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: waiting for %s\n", strings.Join(m, ", "))
		return
	}
	fmt.Fprintln(w, "ready")
}

func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb
}
