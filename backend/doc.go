// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package backend defines what weftd drives to program the overlay: the
// Backend interface (set up a device, publish lease attributes, keep the
// kernel converged on a desired peer set), the ExternalInterface the
// daemon chose as underlay, and the pure logic that chooses it from the
// node's links (--iface, --iface-regex, --iface-can-reach, default route).
//
// Invariants: a backend receives the whole desired peer set (and cheap
// deltas) and never asks etcd anything; interface selection performs no
// I/O: the daemon lists links and routes through a dataplane and passes
// them in.
package backend
