// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package backend

import (
	"context"
	"net/netip"
	"time"

	"github.com/weft-net/weft/subnet"
)

// ExternalInterface is the underlay chosen by the daemon. The zero value is
// no interface.
type ExternalInterface struct {
	Name  string
	Index int
	MTU   int
	// IfaceAddr is the IPv4 address on the interface: the VXLAN local address.
	IfaceAddr netip.Addr
	// PublicIP is what peers send to: IfaceAddr unless --public-ip says otherwise.
	PublicIP netip.Addr
	// IfaceAddrV6 and PublicIPv6 are the same for IPv6 in dual stack and
	// IPv6-only (where IfaceAddr and PublicIP are zero); zero otherwise.
	IfaceAddrV6, PublicIPv6 netip.Addr
}

// Backend programs the node's overlay dataplane. Setup comes first, then
// Run; SetPeers, ApplyEvents and Status may be called from any goroutine
// at any time, before or during Run.
type Backend interface {
	// Setup creates or adopts the node's device(s) on ext. The VTEP MAC is
	// kept stable: the existing device's, else prev's (our own lease's
	// attributes from an earlier run), else a new random locally
	// administered one. It returns what to publish in our lease.
	Setup(ctx context.Context, ext ExternalInterface, prev *subnet.LeaseAttrs) (subnet.LeaseAttrs, error)
	// MTU is the overlay MTU to write to subnet.env (0 before Setup).
	MTU() int
	// Run puts own's subnet address on the device(s) and keeps the kernel
	// converged on the desired peer set until ctx ends; it returns nil on
	// cancellation and an error only when it cannot go on.
	// SetUnderlay moves a running backend to a changed underlay (new
	// address, or the interface back with a new index), keeping the VTEP
	// MACs; Run re-programs the devices and every peer. It returns what to
	// publish in our lease.
	SetUnderlay(ext ExternalInterface) (subnet.LeaseAttrs, error)
	Run(ctx context.Context, own subnet.Lease) error
	// SetPeers replaces the whole desired peer set; it does not block and
	// triggers a full reconcile.
	SetPeers(peers []subnet.Lease)
	// ApplyEvents applies lease changes to the desired set, touching only
	// the peers named; it does not block.
	ApplyEvents(events []subnet.Event)
	// Status reports progress for readiness and metrics.
	Status() Status
	// Teardown deletes the device(s) and the routes the backend owns (for
	// --release-on-exit); call it after Run has returned.
	Teardown() error
}

// Status is a backend's progress. The zero value means "not started".
type Status struct {
	// Ready is true once the device exists and a full reconcile succeeded
	// with the current device.
	Ready bool
	// Peers is the number of peers whose entries are programmed; Desired is
	// the size of the desired set (peers with usable backend data).
	Peers, Desired int
	// LastReconcile is when the last full reconcile ended, LastError its
	// error (nil when it succeeded).
	LastReconcile time.Time
	LastError     error
	// Repairs counts kernel entries (and devices) restored after they
	// went missing or were altered behind the backend's back.
	Repairs uint64
}
