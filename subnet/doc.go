// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package subnet is weft's leasing domain: the network config (flannel's
// net-conf.json, parsed, defaulted and validated with flannel's bounds), the
// lease model and its etcd key codec, and the Registry interface that the etcd
// implementation in subnet/etcd satisfies.
//
// Invariants: every prefix held in these types is Masked(); the zero netip
// value means "unset"; nothing in this package performs I/O except through a
// Registry handed in by the caller.
package subnet
