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

	"github.com/spf13/cobra"
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

func (a *app) leasesCmd() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "leases",
		Short: "list every lease and reservation (--watch streams changes)",
		Long: `List every lease and reservation in etcd, sorted by subnet: the node's public IP and VTEP
MAC, the remaining TTL, the etcd lease and whether every weftd programs it as a peer (PEER:
yes, pending for a reservation no node uses yet, or "no: REASON"). -o wide adds the IPv6
columns and the rejection details. --watch prints the list, then one line per change.`,
		Example: `  weftctl leases
  weftctl --etcd-endpoints=https://10.0.0.10:2379 leases -o json
  ETCDCTL_ENDPOINTS=10.0.0.10:2379 weftctl leases --watch`,
		Args: noArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			return a.leases(ctx, watch)
		}),
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "after the list, stream lease changes until Ctrl-C")
	return cmd
}

func (a *app) leases(ctx context.Context, watch bool) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	lctx, cancel := a.etcdContext(ctx)
	defer cancel()
	leases, rev, err := c.reg.ListLeases(lctx)
	if err != nil {
		return err
	}
	if watch {
		rows, err := leaseRows(lctx, c.reg, slices.Clone(leases))
		if err != nil {
			return err
		}
		cancel() // the stream runs until Ctrl-C, not --timeout
		return watchLeases(ctx, c.reg, rows, leases, rev, a.output, a.stdout)
	}
	rows, err := leaseRows(lctx, c.reg, slices.Clone(leases))
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []leaseRow{}
	}
	return emit(a.stdout, a.output, rows, func(w io.Writer) error { return leaseTable(w, rows, a.output == formatWide) })
}

// leaseTable prints one row per lease; the IPv6 columns appear only when
// some lease is dual stack or wide asks for every column.
func leaseTable(w io.Writer, rows []leaseRow, wide bool) error {
	dual := wide || slices.ContainsFunc(rows, func(r leaseRow) bool { return r.IPv6Subnet != "" })
	tw := newTable(w)
	header := []string{"SUBNET"}
	if dual {
		header = append(header, "IPV6 SUBNET", "PUBLIC IP", "PUBLIC IPV6", "VTEP MAC")
	} else {
		header = append(header, "PUBLIC IP", "VTEP MAC")
	}
	if wide {
		header = append(header, "IPV6 VTEP MAC")
	}
	header = append(header, "BACKEND", "EXPIRES IN", "ETCD LEASE", "PEER")
	if wide {
		header = append(header, "WHY NOT")
	}
	row(tw, header...)
	for _, r := range rows {
		cells := []string{r.Subnet}
		if dual {
			cells = append(cells, orDash(r.IPv6Subnet))
		}
		cells = append(cells, orDash(r.PublicIP))
		if dual {
			cells = append(cells, orDash(r.PublicIPv6))
		}
		cells = append(cells, orDash(r.VtepMAC))
		if wide {
			cells = append(cells, orDash(r.IPv6VtepMAC))
		}
		cells = append(cells, orDash(r.Backend), r.expiresCell(), orDash(r.EtcdLeaseID), r.admissionCell())
		if wide {
			why := "-"
			if r.Rejected != nil {
				why = r.Rejected.Detail
			}
			cells = append(cells, why)
		}
		row(tw, cells...)
	}
	return tw.Flush()
}
