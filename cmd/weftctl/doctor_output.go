// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"fmt"
	"io"
	"time"
)

// doctorText prints the report for a person: what doctor looked at, then
// each problem with its fix.
func doctorText(w io.Writer, r doctorReport) error {
	n := r.Node
	tw := newTable(w)
	row(tw, "etcd", n.Etcd)
	weftd := n.Weftd
	if n.WeftdAddr != "" {
		weftd += " (" + n.WeftdAddr + "/readyz)"
	}
	row(tw, "weftd", weftd)
	for _, note := range n.WeftdNotes {
		row(tw, "", note)
	}
	row(tw, "node", orDash(n.PublicIP))
	if n.Subnet != "" {
		lease := n.Subnet
		if n.IPv6Subnet != "" {
			lease += ", " + n.IPv6Subnet
		}
		switch n.ExpiresIn {
		case expiresReserved:
			lease += " (reservation)"
		case expiresExpired:
			lease += fmt.Sprintf(" (etcd lease %s, expired)", n.EtcdLeaseID)
		default:
			d, _ := time.ParseDuration(n.ExpiresIn)
			lease += fmt.Sprintf(" (etcd lease %s, expires in %s)", n.EtcdLeaseID, humanDuration(d))
		}
		row(tw, "lease", lease)
	}
	row(tw, "device", orDash(n.Device))
	row(tw, "peers", fmt.Sprintf("%d (of %d leases)", n.Peers, n.Leases))
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Healthy {
		_, err := fmt.Fprintln(w, "\nhealthy: no problems found")
		return err
	}
	fmt.Fprintf(w, "\n%d problem(s):\n", len(r.Findings))
	for _, f := range r.Findings {
		fmt.Fprintf(w, "\n%s %s: %s\n  %s\n  fix: %s\n", f.Check, f.Subject, f.Problem, f.Detail, f.Fix)
	}
	_, err := fmt.Fprintln(w, "\nweftd repairs the device, its address and the neighbour, FDB and route entries on its next\n"+
		"resync (every 30s by default); a problem that persists means weftd is not running or cannot\n"+
		"program the kernel: see its log.")
	return err
}
