// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"sync/atomic"
	"time"

	"github.com/weft-net/weft/internal/version"
	"github.com/weft-net/weft/subnet"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are weftd's Prometheus series. Names are stable: dashboards and
// alerts depend on them (Documentation/running.md lists them).
type metrics struct {
	reg              *prometheus.Registry
	peers            prometheus.Gauge
	leaseEvents      *prometheus.CounterVec
	reconcileRuns    prometheus.Counter
	reconcileErrors  prometheus.Counter
	reconcileSeconds prometheus.Histogram
	repairs          prometheus.Counter
	eventToKernel    prometheus.Histogram
	configErrors     prometheus.Counter
	ready            prometheus.Gauge
	leasesRejected   *prometheus.GaugeVec
	leaseDefended    prometheus.Counter
	nodeRepairs      *prometheus.CounterVec
	// desired counts the peers admission admitted; nil until it started.
	desired atomic.Pointer[func() int]
	// dumpInterruptions reads the dataplane's count of interrupted (and
	// retried) netlink dumps; nil until the node's dataplane is open.
	dumpInterruptions atomic.Pointer[func() uint64]
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_peers_programmed", Help: "Peers whose FDB, neighbour and route entries are in the kernel.",
		}),
		leaseEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_lease_events_total", Help: "Lease events received from etcd, by type.",
		}, []string{"type"}),
		reconcileRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_reconcile_runs_total", Help: "Full kernel reconciles.",
		}),
		reconcileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_reconcile_errors_total", Help: "Reconciles that ended with an error (retried on the next tick).",
		}),
		reconcileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_reconcile_duration_seconds", Help: "Duration of a full kernel reconcile.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_reconcile_repairs_total", Help: "Kernel entries added, replaced or removed to match the desired state.",
		}),
		eventToKernel: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_lease_event_to_kernel_seconds", Help: "Time from receiving a lease event to its kernel entries being programmed.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		configErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_config_errors_total", Help: "Times the network config in etcd was found invalid while running.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_ready", Help: "1 when the node is ready (lease, subnet.env, forwarding, peers, rules; /readyz says what fails).",
		}),
	}
	m.leasesRejected = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weft_leases_rejected", Help: "Leases in etcd not admitted as peers (never programmed), by reason.",
	}, []string{"reason"})
	m.leaseDefended = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weft_lease_defended_total", Help: "Times this node wrote its own lease value back after someone else rewrote its key.",
	})
	m.nodeRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_node_repairs_total", Help: "Node state weftd restored after it drifted (forwarding sysctls, subnet.env), by what.",
	}, []string{"what"})
	m.reg.MustRegister(m.leasesRejected, m.leaseDefended, m.nodeRepairs)
	m.registerBuildAndLate()
	m.reg.MustRegister(m.peers, m.leaseEvents, m.reconcileRuns, m.reconcileErrors, m.reconcileSeconds, m.repairs, m.eventToKernel,
		m.configErrors, m.ready,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// registerBuildAndLate registers weft_build_info and the series whose
// source appears only once weftd runs (admission, the dataplane): they read
// it through an atomic pointer, 0 until it is set.
func (m *metrics) registerBuildAndLate() {
	// Constant labels on a gauge of 1: joined on (instance) it labels any
	// other series with the build, and count by (version) shows skew.
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weft_build_info", Help: "Always 1; the labels say which weftd build runs (as weftd --version prints it).",
	}, []string{"version", "commit", "goversion"})
	v := version.Get()
	buildInfo.WithLabelValues(v.Version, v.Commit, v.GoVersion).Set(1)
	m.reg.MustRegister(buildInfo, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weft_peers_desired",
		Help: "Peers this node should program: leases admitted as peers that carry backend data (compare weft_peers_programmed).",
	}, func() float64 {
		if f := m.desired.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "weft_netlink_dump_interruptions_total",
		Help: "Netlink table dumps the kernel interrupted (a table changed during the dump); each was retried. A steady rise means heavy churn on the node's tables.",
	}, func() float64 {
		if f := m.dumpInterruptions.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}))
}

// leaseStats is where the lease series come from: the Manager counts
// renewals and re-claims, the etcd registry counts watch restarts.
type leaseStats interface {
	Stats() subnet.ManagerStats
}

type watchStats interface {
	WatchRestarts() uint64
}

// registerLease adds the series read from the lease manager and registry at
// scrape time, so they can never drift from what those components did.
func (m *metrics) registerLease(ls leaseStats, ws watchStats) {
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weft_lease_expiry_timestamp_seconds",
			Help: "When this node's lease expires unless renewed, as of the last renewal (0 for a reservation or before the first).",
		}, func() float64 {
			if e := ls.Stats().Expiry; !e.IsZero() {
				return float64(e.Unix())
			}
			return 0
		}),
		counter("weft_lease_renewals_total", "Successful keep-alives of this node's etcd lease.", func() uint64 { return ls.Stats().Renewals }),
		counter("weft_lease_renewal_failures_total", "Failed keep-alive attempts (etcd unreachable); they are retried.",
			func() uint64 { return ls.Stats().RenewFailures }),
		counter("weft_lease_reclaims_total", "Times this node re-claimed its subnet after its etcd lease or key was lost.",
			func() uint64 { return ls.Stats().Reclaims }),
		counter("weft_etcd_watch_restarts_total", "Lease watch re-lists (the watch revision was compacted away); a watch broken by an outage resumes without one.", ws.WatchRestarts),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weft_etcd_reachable",
			Help: "0 while renewals of this node's lease fail (etcd unreachable), else 1. The dataplane keeps forwarding meanwhile.",
		}, func() float64 {
			if ls.Stats().Unreachable {
				return 0
			}
			return 1
		}),
	)
}

// setDumpInterruptions makes weft_netlink_dump_interruptions_total read f
// at scrape time.
func (m *metrics) setDumpInterruptions(f func() uint64) { m.dumpInterruptions.Store(&f) }

// setDesired makes weft_peers_desired read f at scrape time.
func (m *metrics) setDesired(f func() int) { m.desired.Store(&f) }

// desired counts the admitted leases that carry backend data: the peers
// the backend must program. An admitted reservation without backend data
// holds its subnet but is nothing to program, so it does not count.
func (a *admission) desired() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.adm == nil {
		return 0
	}
	return a.adm.CountAdmitted(func(l *subnet.Lease) bool {
		return len(l.Attrs.BackendData) > 0 || len(l.Attrs.BackendV6Data) > 0
	})
}

func (m *metrics) observeReconcile(d time.Duration, repairs int, err error) {
	m.reconcileRuns.Inc()
	m.reconcileSeconds.Observe(d.Seconds())
	m.repairs.Add(float64(repairs))
	if err != nil {
		m.reconcileErrors.Inc()
	}
}
