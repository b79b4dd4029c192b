// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package netlinkdp implements dataplane.Dataplane over rtnetlink for one
// network namespace. It is weft's only importer of vishvananda/netlink: a
// thin translation layer between netip-typed dataplane values and netlink
// messages, making no decisions of its own.
//
// Every socket it opens (requests, notifications, the ethtool ioctl) is
// created inside the namespace given to New, so tests and the daemon's tests
// never program the root namespace. A Dataplane is safe for concurrent use.
package netlinkdp
