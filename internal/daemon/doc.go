// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package daemon is weftd's lifecycle: wait for etcd and a valid network
// config, choose the underlay interface, set up the backend's device,
// acquire the node's lease, write subnet.env, program every peer, then keep
// all of it true: the lease alive (re-claimed if lost), the kernel matching
// etcd (watch + reconcile), the masquerade/forward rules installed, and the
// underlay followed when it changes. It serves /healthz, /readyz and
// Prometheus /metrics.
//
// A bad config in etcd or an etcd outage never takes the dataplane down: the
// node keeps forwarding with the last good peer set and catches up when etcd
// or the config is good again. SIGTERM leaves the lease and the kernel state
// in place so a restart is seamless; only --release-on-exit removes them.
package daemon
