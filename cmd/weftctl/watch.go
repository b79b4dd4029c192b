// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/weft-net/weft/subnet"
)

// Watch event names: the initial list, then changes.
const (
	eventListed  = "listed"
	eventAdded   = "added"
	eventUpdated = "updated"
	eventRemoved = "removed"
)

// watchEvent is one line of `leases --watch`.
type watchEvent struct {
	Event string   `json:"event"`
	Lease leaseRow `json:"lease"`
}

// watchColumns are fixed widths: a stream cannot be aligned after the fact.
const watchLine = "%-8s  %-18s  %-15s  %-17s  %-8s  %-10s  %s\n"

// watchLeases prints the current leases, then one line (table) or one
// document (json: a JSON object per line; yaml: documents separated by
// ---) per change, until ctx is done (Ctrl-C).
func watchLeases(ctx context.Context, reg subnet.Registry, rows []leaseRow, leases []subnet.Lease, rev int64, format string, w io.Writer) error {
	if format == formatTable || format == formatWide {
		fmt.Fprintf(w, watchLine, "EVENT", "SUBNET", "PUBLIC IP", "VTEP MAC", "BACKEND", "EXPIRES IN", "ETCD LEASE")
	}
	// The last row of each lease: a removal event carries only the
	// subnets, and the operator wants to see which node left.
	known := map[string]leaseRow{}
	for _, r := range rows {
		known[r.Key] = r
		if err := printWatchEvent(w, format, watchEvent{eventListed, r}); err != nil {
			return err
		}
	}
	var werr error
	err := reg.WatchLeases(ctx, leases, rev, func(evs []subnet.Event) {
		for _, ev := range evs {
			if werr != nil {
				return
			}
			werr = printChange(ctx, reg, w, format, known, ev)
		}
	})
	if werr != nil {
		return werr
	}
	return err
}

func printChange(ctx context.Context, reg subnet.Registry, w io.Writer, format string, known map[string]leaseRow, ev subnet.Event) error {
	r := newLeaseRow(ev.Lease)
	last, seen := known[r.Key]
	name := eventRemoved
	switch {
	case ev.Type == subnet.EventRemoved:
		if seen {
			r = last
		}
		delete(known, r.Key)
		r.ExpiresIn = ""
	case seen:
		name = eventUpdated
	default:
		name = eventAdded
	}
	if ev.Type == subnet.EventAdded && !ev.Lease.Reserved() {
		ttl, err := reg.LeaseTTL(ctx, ev.Lease.LeaseID)
		if ctx.Err() != nil {
			return nil
		}
		if err := r.setTTL(ttl, err); err != nil {
			return err
		}
	}
	if ev.Type == subnet.EventAdded {
		known[r.Key] = r
	}
	return printWatchEvent(w, format, watchEvent{name, r})
}

func printWatchEvent(w io.Writer, format string, ev watchEvent) error {
	switch format {
	case formatJSON:
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode JSON: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case formatYAML:
		b, err := yaml.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		_, err = fmt.Fprintf(w, "---\n%s", b)
		return err
	}
	r := ev.Lease
	subnets := r.Subnet
	if r.IPv6Subnet != "" {
		subnets += "," + r.IPv6Subnet
	}
	_, err := fmt.Fprintf(w, watchLine, ev.Event, subnets, orDash(r.PublicIP), orDash(r.VtepMAC),
		orDash(r.Backend), r.expiresCell(), orDash(r.EtcdLeaseID))
	return err
}
