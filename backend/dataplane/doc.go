// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package dataplane is the kernel vocabulary of weft's backends and the
// Dataplane interface that programs it. Types carry net/netip values; only
// the implementation in netlinkdp converts them to netlink's net.IP types.
//
// Invariants: every verb is idempotent (creating what exists with the same
// content, or deleting what is missing, succeeds) and returns plain data;
// no verb makes a policy decision: what to create, replace or delete is
// decided by the backend (backend/vxlan). Implementations are safe for
// concurrent use.
package dataplane
