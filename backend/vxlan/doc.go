// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package vxlan is weft's VXLAN backend, wire-compatible with flannel's:
// one device flannel.<VNI> (and flannel-v6.<VNI> in dual stack) and, per
// peer, an FDB entry (VTEP MAC → public IP), a permanent neighbour entry
// (peer subnet address → VTEP MAC) and a route (peer subnet via that
// address, onlink), or a direct route with DirectRouting.
//
// It is level-triggered: Plan turns leases into desired entries, Diff
// orders the operations that make the observed kernel state match
// (neighbour and FDB entries before the route on add, the route first on
// removal), and Run applies them on every change, netlink notification
// and resync tick. It makes no netlink calls itself: the kernel is behind
// dataplane.Dataplane. It only deletes what it owns: entries on its
// devices and routes carrying RouteProtocol.
package vxlan
