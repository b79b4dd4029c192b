// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package vxlan is weft's VXLAN backend, wire-compatible with flannel's:
// one device flannel.<VNI> (and flannel-v6.<VNI> in dual stack) and, per
// peer, an FDB entry (VTEP MAC → public IP), a permanent neighbour entry
// (peer subnet address → VTEP MAC) and a route (peer subnet via that
// address, onlink), or a direct route with DirectRouting.
//
// It is level-triggered, with one differ and one applier. A plan (plan.go)
// holds the desired peers in compact form; the state (state.go) is what
// the kernel holds of weft's entries, from a dump or, between dumps, from
// what the backend believes of the peers involved. diff (diff.go) is the
// only place that orders operations: routes to unplanned destinations
// first, then per chunk of peers their neighbour and FDB entries before
// their routes, and those routes before the deletion of older forms of
// them (metric 0: an older weftd's, flanneld's), then stale entries; it
// yields the operations chunk by chunk. IPv4 routes carry a metric per
// peer subnet (RouteMetric), which keeps the kernel's route inserts
// linear; a route's identity is its destination and metric. The applier (apply.go) runs them and is the only place that holds
// back a route whose gateway's entries failed. Every path goes through the
// two: a full reconcile (start, resync ticks, lost notifications, device
// changes) diffs every peer against a dump, lease events diff the changed
// peers, repairs the peers whose entries the kernel reported deleted, and
// Check (for weftctl doctor) every peer against a dump it is given.
//
// The backend makes no netlink calls itself: the kernel is behind
// dataplane.Dataplane. It only deletes what it owns: entries on its
// devices and routes carrying RouteProtocol (or flanneld's on its devices).
package vxlan
