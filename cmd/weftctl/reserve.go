// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/weft-net/weft/subnet"
)

// reserveReq is a parsed `reserve` command.
type reserveReq struct {
	sn, sn6 netip.Prefix
	ip, ip6 netip.Addr
	cfg     *subnet.Config
	leases  []subnet.Lease
}

func (a *app) reserveCmd() *cobra.Command {
	var req reserveReq
	cmd := &cobra.Command{
		Use:   "reserve SUBNET --public-ip IP",
		Short: "reserve a subnet for a node's public IP (a permanent key)",
		Long: `Reserve SUBNET for the node with --public-ip: a lease key without TTL that no other node can
take. The node's weftd adopts it at its next start (a reservation wins over a lease). When
that node already holds SUBNET with an etcd lease, the lease becomes the reservation.`,
		Example: "  weftctl reserve 10.244.7.0/24 --public-ip 10.0.0.17",
		Args:    exactArgs(1, "one SUBNET"),
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			return a.reserve(ctx, args[0], &req)
		}),
	}
	f := cmd.Flags()
	textVar(f, &req.ip, "public-ip", "IP", "public IPv4 address of the node the subnet is kept for (required)")
	textVar(f, &req.ip6, "public-ipv6", "IP", "public IPv6 address of the node (dual stack)")
	textVar(f, &req.sn6, "ipv6-subnet", "CIDR", "IPv6 subnet to pair with SUBNET in dual stack (default: the one at the same index)")
	return cmd
}

func (a *app) reserve(ctx context.Context, arg string, req *reserveReq) error {
	if err := checkReserveArgs(arg, req); err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := a.etcdContext(ctx)
	defer cancel()
	if req.cfg, err = c.reg.GetConfig(ctx); err != nil {
		return err
	}
	if req.leases, _, err = c.reg.ListLeases(ctx); err != nil {
		return err
	}
	notes, err := req.check()
	if err != nil {
		return err
	}
	res := actionResult{Action: "reserved", Subnet: req.sn.String(), PublicIP: req.ip.String()}
	if req.sn6.IsValid() {
		res.IPv6Subnet = req.sn6.String()
	}
	l, already, err := req.apply(ctx, c.reg)
	if err != nil {
		return err
	}
	res.Key = c.reg.LeaseKey(l)
	for _, n := range notes {
		fmt.Fprintln(a.stderr, n)
	}
	msg := fmt.Sprintf("reserved %s for %s (permanent key %s)\n", req.sn, req.ip, res.Key)
	switch already {
	case stateReserved:
		res.Action, msg = "unchanged", fmt.Sprintf("%s is already reserved for %s\n", req.sn, req.ip)
	case stateConverted:
		res.Action = "converted"
		msg = fmt.Sprintf("converted the lease of %s on %s into a reservation (permanent key %s)\n", req.sn, req.ip, res.Key)
	}
	return emit(a.stdout, a.output, res, func(w io.Writer) error {
		_, err := io.WriteString(w, msg)
		return err
	})
}

func checkReserveArgs(arg string, req *reserveReq) error {
	sn, err := parseSubnetArg(arg)
	if err != nil {
		return err
	}
	req.sn = sn
	if !req.ip.IsValid() || !req.ip.Is4() {
		return usagef("--public-ip: an IPv4 address is required (the node's PublicIP, as in its lease)")
	}
	if req.ip6.IsValid() && (!req.ip6.Is6() || req.ip6.Is4In6()) {
		return fmt.Errorf("--public-ipv6 %s: not an IPv6 address", req.ip6)
	}
	if req.sn6.IsValid() && (!req.sn6.Addr().Is6() || req.sn6.Masked() != req.sn6) {
		return fmt.Errorf("--ipv6-subnet %s: want a masked IPv6 subnet", req.sn6)
	}
	return nil
}

// check refuses a subnet that does not fit the config (outside the range,
// misaligned or of the wrong length), one another node holds, and a node
// that already has another reservation. A node's live lease elsewhere is
// only noted: the node moves to its reservation at its next start.
func (q *reserveReq) check() (notes []string, err error) {
	c := q.cfg
	if !c.EnableIPv6 && q.sn6.IsValid() {
		return nil, fmt.Errorf("--ipv6-subnet %s: the network config does not enable IPv6", q.sn6)
	}
	if c.EnableIPv6 && !q.sn6.IsValid() {
		i, _ := subnet.SubnetIndex(c.SubnetMin, q.sn.Addr(), c.SubnetLen)
		q.sn6 = subnet.NthSubnet(c.IPv6SubnetMin, c.IPv6SubnetLen, i)
	}
	if reason := orphanReason(c, subnet.Lease{Subnet: q.sn, IPv6Subnet: q.sn6}); reason != "" {
		return nil, fmt.Errorf("cannot reserve %s: %s", subnet.SubnetKey(q.sn, q.sn6), reason)
	}
	for _, l := range q.leases {
		overlap := l.Subnet.Overlaps(q.sn) || (q.sn6.IsValid() && l.IPv6Subnet.IsValid() && l.IPv6Subnet.Overlaps(q.sn6))
		same := l.Key() == subnet.SubnetKey(q.sn, q.sn6)
		switch {
		case overlap && l.Attrs.PublicIP != q.ip:
			return nil, fmt.Errorf("cannot reserve %s: %s is held by node %s (%s); release it first with `weftctl %s %s`",
				q.sn, l.Key(), orDash(addrText(l.Attrs.PublicIP)), holdKind(l), releaseVerb(l), l.Subnet)
		case overlap && !same:
			return nil, fmt.Errorf("cannot reserve %s: node %s holds the overlapping %s", q.sn, q.ip, l.Key())
		case !overlap && l.Attrs.PublicIP == q.ip && l.Reserved():
			return nil, fmt.Errorf("cannot reserve %s for %s: that node already has the reservation %s; "+
				"remove it first with `weftctl unreserve %s`", q.sn, q.ip, l.Key(), l.Subnet)
		case !overlap && l.Attrs.PublicIP == q.ip:
			notes = append(notes, fmt.Sprintf("note: node %s holds %s now (etcd lease %s); it moves to %s at its "+
				"next start (a reservation wins over a lease), and its pods get new addresses",
				q.ip, l.Subnet, leaseIDString(l.LeaseID), q.sn))
		}
	}
	return notes, nil
}

func holdKind(l subnet.Lease) string {
	if l.Reserved() {
		return "a reservation"
	}
	return "etcd lease " + leaseIDString(l.LeaseID)
}

func releaseVerb(l subnet.Lease) string {
	if l.Reserved() {
		return "unreserve"
	}
	return "lease release"
}

// What apply found.
const (
	stateNew = iota
	stateReserved
	stateConverted
)

// apply writes the reservation. When the node itself already holds the
// subnet with an etcd lease, the lease is turned into a reservation: the key
// is recreated without etcd lease and with the node's attributes, and the
// node's weftd, finding its etcd lease gone, adopts the reservation that
// carries its PublicIP.
func (q *reserveReq) apply(ctx context.Context, reg subnet.Registry) (subnet.Lease, int, error) {
	l := subnet.Lease{Subnet: q.sn, IPv6Subnet: q.sn6, Attrs: subnet.LeaseAttrs{PublicIP: q.ip, PublicIPv6: q.ip6}}
	state := stateNew
	for _, cur := range q.leases {
		if cur.Key() != l.Key() {
			continue
		}
		if cur.Reserved() {
			return cur, stateReserved, nil
		}
		l.Attrs = cur.Attrs
		if err := reg.DeleteLease(ctx, cur); err != nil {
			return l, 0, err
		}
		state = stateConverted
	}
	created, err := reg.CreateLease(ctx, l, 0)
	if errors.Is(err, subnet.ErrLeaseExists) {
		return l, 0, fmt.Errorf("cannot reserve %s: a node took it just now (see `weftctl lease show %s`)", q.sn, q.sn)
	}
	return created, state, err
}

func (a *app) unreserveCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "unreserve SUBNET",
		Short: "delete a reservation",
		Long: `Delete the reservation of SUBNET. When a node uses it (it wrote its VTEP into it), every
peer drops its routes to that node: weftctl asks first, unless --yes.`,
		Args: exactArgs(1, "one SUBNET"),
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			return a.unreserve(ctx, args[0], yes)
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation when a node uses the reservation")
	return cmd
}

func (a *app) unreserve(ctx context.Context, arg string, yes bool) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	lctx, cancel := a.etcdContext(ctx)
	defer cancel()
	sn, l, err := c.subnetLease(lctx, arg)
	if err != nil {
		return err
	}
	if !l.Reserved() {
		return fmt.Errorf("%s is not a reservation: node %s holds it with etcd lease %s (a live lease); "+
			"use `weftctl lease release %s` to free it", sn, l.Attrs.PublicIP, leaseIDString(l.LeaseID), sn)
	}
	if len(l.Attrs.BackendData) > 0 {
		q := fmt.Sprintf("Node %s uses the reservation %s (it wrote its VTEP into it). Delete it? "+
			"Every peer drops its routes to that node.", l.Attrs.PublicIP, l.Subnet)
		if err := confirm(a.stderr, q, yes); err != nil {
			return err
		}
	}
	dctx, cancel := a.etcdContext(ctx)
	defer cancel()
	if err := c.reg.DeleteLease(dctx, l); err != nil {
		return err
	}
	res := actionResult{Action: "unreserved", Key: c.reg.LeaseKey(l), Subnet: l.Subnet.String(), PublicIP: addrText(l.Attrs.PublicIP)}
	return emit(a.stdout, a.output, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "deleted the reservation of %s (node %s)\n", l.Subnet, l.Attrs.PublicIP)
		return err
	})
}
