// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package masq installs weftd's masquerade and forwarding rules with
// nftables over netlink, and keeps them installed.
//
// Masquerading lives in one table of weft's own, "inet weft", written in one
// atomic batch (add, delete, re-create) and only when the live table differs
// from the desired one, so a converged node sees no churn. Forwarding is
// accepted by rules weft inserts at the top of the host's iptables FORWARD
// chains (iptables-nft's "ip filter FORWARD" through netlink, iptables-legacy
// through its binary), because an accept in weft's own table cannot override
// a drop in another base chain. Weft's rules there carry the comment
// "weft forward", which is how weft finds, repairs and removes exactly its own.
//
// A Manager works on one network namespace (the caller's, or the one given by
// WithNetNSFd) and is safe for concurrent use. See Documentation/configuration.md
// for the rules and why they mirror flanneld's.
package masq
