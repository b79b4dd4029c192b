// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weft-net/weft/subnet"
)

func (a *app) leaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease",
		Short: "show or release one lease (show|release SUBNET)",
		Args:  noArgs,
		RunE:  showHelp,
	}
	show := &cobra.Command{
		Use:   "show SUBNET",
		Short: "show one lease or reservation in detail, with its stored value",
		Long: `Show one lease or reservation in detail: its etcd key, the node's addresses, VNI and VTEP
MAC, the remaining TTL, the etcd lease and the value as stored. SUBNET is a CIDR
(10.244.3.0/24) or a key (10.244.3.0-24).`,
		Example: "  weftctl lease show 10.244.3.0/24 -o json",
		Args:    exactArgs(1, "one SUBNET"),
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			return a.leaseShow(ctx, args[0])
		}),
	}
	var yes bool
	release := &cobra.Command{
		Use:   "release SUBNET",
		Short: "delete a node's lease and revoke its etcd lease",
		Long: `Delete a node's lease and revoke its etcd lease, freeing the subnet at once instead of
after its TTL (a dead node's). Every peer drops its routes to it; a weftd still running on
that node takes a subnet again. Asks for confirmation unless --yes.`,
		Args: exactArgs(1, "one SUBNET"),
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			return a.leaseRelease(ctx, args[0], yes)
		}),
	}
	release.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.AddCommand(show, release)
	return cmd
}

// parseSubnetArg reads a subnet as given on the command line: CIDR
// (10.244.3.0/24) or key form (10.244.3.0-24, also dual stack). Host bits
// are an error that suggests the masked subnet.
func parseSubnetArg(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		sn, _, err := subnet.ParseSubnetKey(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("subnet %q: want an IPv4 subnet such as 10.244.3.0/24", s)
		}
		return sn, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet %q: want an IPv4 subnet such as 10.244.3.0/24", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("subnet %s has host bits set; did you mean %s?", p, p.Masked())
	}
	return p, nil
}

// leaseDetail is `lease show`: the row plus the raw stored value.
type leaseDetail struct {
	leaseRow
	EtcdKey     string          `json:"etcdKey"`
	ModRevision int64           `json:"modRevision"`
	VNI         uint32          `json:"vni,omitempty"`
	Value       json.RawMessage `json:"value"`
}

func (a *app) leaseShow(ctx context.Context, arg string) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := a.etcdContext(ctx)
	defer cancel()
	_, l, err := c.subnetLease(ctx, arg)
	if err != nil {
		return err
	}
	rows, err := leaseRows(ctx, c.reg, []subnet.Lease{l})
	if err != nil {
		return err
	}
	val, err := json.Marshal(l.Attrs)
	if err != nil {
		return fmt.Errorf("encode lease %s: %w", l.Key(), err)
	}
	d := leaseDetail{leaseRow: rows[0], EtcdKey: c.reg.LeaseKey(l), ModRevision: l.ModRevision, Value: val}
	if v, err := subnet.DecodeVXLANData(l.Attrs.BackendData); err == nil {
		d.VNI = v.VNI
	}
	return emit(a.stdout, a.output, d, func(w io.Writer) error { return leaseDetailTable(w, d) })
}

func notFoundHint(err error, sn netip.Prefix) error {
	if errors.Is(err, subnet.ErrLeaseNotFound) {
		return fmt.Errorf("no lease or reservation for %s (see `weftctl leases`)", sn)
	}
	return err
}

func leaseDetailTable(w io.Writer, d leaseDetail) error {
	tw := newTable(w)
	row(tw, "KEY", d.EtcdKey)
	row(tw, "SUBNET", d.Subnet)
	if d.IPv6Subnet != "" {
		row(tw, "IPV6 SUBNET", d.IPv6Subnet)
	}
	row(tw, "PUBLIC IP", orDash(d.PublicIP))
	if d.PublicIPv6 != "" {
		row(tw, "PUBLIC IPV6", d.PublicIPv6)
	}
	row(tw, "BACKEND", orDash(d.Backend))
	if d.VNI != 0 {
		row(tw, "VNI", fmt.Sprint(d.VNI))
	}
	row(tw, "VTEP MAC", orDash(d.VtepMAC))
	if d.IPv6VtepMAC != "" {
		row(tw, "IPV6 VTEP MAC", d.IPv6VtepMAC)
	}
	row(tw, "EXPIRES IN", d.expiresCell())
	row(tw, "ETCD LEASE", orDash(d.EtcdLeaseID))
	row(tw, "VALUE", string(d.Value))
	return tw.Flush()
}

func (a *app) leaseRelease(ctx context.Context, arg string, yes bool) error {
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
	if l.Reserved() {
		return fmt.Errorf("%s is a reservation for %s, not a lease: use `weftctl unreserve %s`", sn, l.Attrs.PublicIP, sn)
	}
	q := fmt.Sprintf("Release %s, leased by node %s (etcd lease %s)? Every peer drops its routes to it; "+
		"if weftd still runs there it takes a subnet again.", l.Subnet, l.Attrs.PublicIP, leaseIDString(l.LeaseID))
	if err := confirm(a.stderr, q, yes); err != nil {
		return err
	}
	// The question may have waited: a fresh time limit for the delete.
	dctx, cancel := a.etcdContext(ctx)
	defer cancel()
	if err := c.reg.DeleteLease(dctx, l); err != nil {
		return err
	}
	res := actionResult{Action: "released", Key: c.reg.LeaseKey(l), Subnet: l.Subnet.String(),
		PublicIP: addrText(l.Attrs.PublicIP), EtcdLeaseID: leaseIDString(l.LeaseID)}
	return emit(a.stdout, a.output, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "released %s (node %s); etcd lease %s revoked\n", l.Subnet, l.Attrs.PublicIP, res.EtcdLeaseID)
		return err
	})
}

// actionResult is what release, reserve and unreserve print with -o json|yaml.
type actionResult struct {
	Action      string `json:"action"`
	Key         string `json:"key"`
	Subnet      string `json:"subnet"`
	IPv6Subnet  string `json:"ipv6Subnet,omitempty"`
	PublicIP    string `json:"publicIP,omitempty"`
	EtcdLeaseID string `json:"etcdLeaseID,omitempty"`
}

// errNotConfirmed is returned when the operator did not answer yes.
var errNotConfirmed = errors.New("not confirmed; nothing changed (pass --yes to skip the question)")

// confirm asks question on stderr and reads the answer from stdin; only
// "y" or "yes" proceeds. With yes set it does not ask.
func confirm(stderr io.Writer, question string, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read confirmation: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	if errors.Is(err, io.EOF) && line == "" {
		fmt.Fprintln(stderr)
	}
	return errNotConfirmed
}
