// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/weft-net/weft/subnet"
)

// ttlConcurrency bounds the TTL lookups weftctl runs at once: one request
// per lease, never a burst of thousands against etcd.
const ttlConcurrency = 16

// Expiry states shown instead of a remaining time.
const (
	expiresReserved = "reserved"
	expiresExpired  = "expired"
)

// leaseRow is one lease as weftctl prints it (table columns, JSON fields).
type leaseRow struct {
	Key         string `json:"key"`
	Subnet      string `json:"subnet"`
	IPv6Subnet  string `json:"ipv6Subnet,omitempty"`
	PublicIP    string `json:"publicIP"`
	PublicIPv6  string `json:"publicIPv6,omitempty"`
	VtepMAC     string `json:"vtepMAC,omitempty"`
	IPv6VtepMAC string `json:"ipv6VtepMAC,omitempty"`
	Backend     string `json:"backend,omitempty"`
	Reserved    bool   `json:"reserved"`
	// ExpiresIn is the remaining TTL (Go duration syntax), "reserved" or "expired".
	ExpiresIn   string `json:"expiresIn"`
	TTLSeconds  int64  `json:"ttlSeconds,omitempty"`
	EtcdLeaseID string `json:"etcdLeaseID,omitempty"`
	// Rejected is why weftd does not program this lease on any node (the
	// global stage of admission), absent when it is a peer.
	Rejected *rejectedLease `json:"rejected,omitempty"`

	ttl time.Duration
}

func newLeaseRow(l subnet.Lease) leaseRow {
	r := leaseRow{
		Key: l.Key(), Subnet: l.Subnet.String(), PublicIP: addrText(l.Attrs.PublicIP),
		Backend: l.Attrs.BackendType, Reserved: l.Reserved(), EtcdLeaseID: leaseIDString(l.LeaseID),
	}
	if l.IPv6Subnet.IsValid() {
		r.IPv6Subnet = l.IPv6Subnet.String()
	}
	r.PublicIPv6 = addrText(l.Attrs.PublicIPv6)
	if d, err := subnet.DecodeVXLANData(l.Attrs.BackendData); err == nil {
		r.VtepMAC = d.VtepMAC.String()
	}
	if d, err := subnet.DecodeVXLANData(l.Attrs.BackendV6Data); err == nil {
		r.IPv6VtepMAC = d.VtepMAC.String()
	}
	if r.Reserved {
		r.ExpiresIn = expiresReserved
	}
	return r
}

// rejectedLease is a lease admission rejects, in weftctl's output.
type rejectedLease struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// markRejected runs the global stage of admission (what every node decides
// from etcd alone) over the leases and marks the rows it rejects. Without
// a readable config there is nothing to admit against: no row is marked.
func markRejected(ctx context.Context, reg subnet.Registry, leases []subnet.Lease, rows []leaseRow) {
	cfg, err := reg.GetConfig(ctx)
	if err != nil {
		return
	}
	byKey := make(map[string]int, len(rows))
	for i := range rows {
		byKey[rows[i].Key] = i
	}
	for _, r := range subnet.Admit(cfg, subnet.Local{}, leases).Rejected {
		if i, ok := byKey[r.Lease.Key()]; ok {
			rows[i].Rejected = &rejectedLease{Reason: string(r.Reason), Detail: r.Detail}
		}
	}
}

// admissionCell is the PEER column: "yes", "pending" for a reservation
// whose node has not written its data yet, or why every weftd rejects it.
func (r leaseRow) admissionCell() string {
	switch {
	case r.Rejected != nil:
		return "no: " + r.Rejected.Reason
	case r.Reserved && r.VtepMAC == "" && r.IPv6VtepMAC == "":
		return "pending"
	}
	return "yes"
}

// setTTL records a TTL lookup's result; only expiry is not an error.
func (r *leaseRow) setTTL(ttl time.Duration, err error) error {
	switch {
	case errors.Is(err, subnet.ErrLeaseExpired):
		r.ExpiresIn = expiresExpired
		return nil
	case err != nil:
		return err
	}
	r.ttl, r.ExpiresIn, r.TTLSeconds = ttl, ttl.String(), int64(ttl/time.Second)
	return nil
}

// expiresCell is the EXPIRES IN column.
func (r leaseRow) expiresCell() string {
	if r.Reserved || r.ExpiresIn == expiresExpired || r.ExpiresIn == "" {
		return orDash(r.ExpiresIn)
	}
	return humanDuration(r.ttl)
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// leaseRows builds the rows of leases, sorted by subnet, looking up each
// etcd lease's TTL with bounded concurrency.
func leaseRows(ctx context.Context, reg subnet.Registry, leases []subnet.Lease) ([]leaseRow, error) {
	slices.SortFunc(leases, func(a, b subnet.Lease) int {
		if c := a.Subnet.Addr().Compare(b.Subnet.Addr()); c != 0 {
			return c
		}
		return a.Subnet.Bits() - b.Subnet.Bits()
	})
	rows := make([]leaseRow, len(leases))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ttlConcurrency)
	for i, l := range leases {
		rows[i] = newLeaseRow(l)
		if l.Reserved() {
			continue
		}
		g.Go(func() error {
			ttl, err := reg.LeaseTTL(gctx, l.LeaseID)
			return rows[i].setTTL(ttl, err)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	markRejected(ctx, reg, leases, rows)
	return rows, nil
}

func runLeases(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s shared
	fs := newFlagSet("leases", "leases [--watch] [flags]", stderr, &s)
	watch := fs.Bool("watch", false, "after the list, stream lease changes until Ctrl-C")
	_, c, err := s.open(fs, args, 0, "", stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	leases, rev, err := c.reg.ListLeases(ctx)
	if err != nil {
		return err
	}
	if *watch {
		return watchLeases(ctx, c.reg, leases, rev, s.output, stdout)
	}
	rows, err := leaseRows(ctx, c.reg, slices.Clone(leases))
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []leaseRow{}
	}
	return emit(stdout, s.output, rows, func(w io.Writer) error { return leaseTable(w, rows) })
}

// leaseTable prints one row per lease; the IPv6 columns appear only when
// some lease is dual stack.
func leaseTable(w io.Writer, rows []leaseRow) error {
	dual := slices.ContainsFunc(rows, func(r leaseRow) bool { return r.IPv6Subnet != "" })
	tw := newTable(w)
	if dual {
		row(tw, "SUBNET", "IPV6 SUBNET", "PUBLIC IP", "PUBLIC IPV6", "VTEP MAC", "BACKEND", "EXPIRES IN", "ETCD LEASE", "PEER")
	} else {
		row(tw, "SUBNET", "PUBLIC IP", "VTEP MAC", "BACKEND", "EXPIRES IN", "ETCD LEASE", "PEER")
	}
	for _, r := range rows {
		cells := []string{r.Subnet}
		if dual {
			cells = append(cells, orDash(r.IPv6Subnet))
		}
		cells = append(cells, orDash(r.PublicIP))
		if dual {
			cells = append(cells, orDash(r.PublicIPv6))
		}
		cells = append(cells, orDash(r.VtepMAC), orDash(r.Backend), r.expiresCell(), orDash(r.EtcdLeaseID), r.admissionCell())
		row(tw, cells...)
	}
	return tw.Flush()
}
