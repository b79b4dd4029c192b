// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vishvananda/netns"

	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// finding is one discrepancy doctor found, with what to do about it.
type finding struct {
	// Check is the area: etcd, weftd, config, lease, leases, subnet.env,
	// sysctl, device, address, route, neighbour, fdb.
	Check string `json:"check"`
	// Subject is what the finding is about: a subnet, an address, a device.
	Subject string `json:"subject"`
	// Problem is one word: missing, extra, wrong, expiring, expired,
	// duplicate, overlap, unusable, misfit, rejected, unreachable,
	// not-ready, changed, drops.
	Problem string `json:"problem"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix"`
}

// nodeFlags are the node's settings doctor needs, named as weftd's flags
// so that WEFTD_*, FLANNELD_* and weftd's env file give them.
type nodeFlags struct {
	subnetFile   string
	publicIP     netip.Addr
	healthzIP    string
	healthzPort  int
	renewMinutes int
}

func addNodeFlags(fs *pflag.FlagSet, f *nodeFlags) {
	fs.StringVar(&f.subnetFile, "subnet-file", subnetenv.DefaultPath, "the subnet.env weftd writes on this node (weftd's --subnet-file)")
	textVar(fs, &f.publicIP, "public-ip", "IP", "this node's PublicIP (weftd's --public-ip; default: the local address of its VXLAN device)")
	fs.StringVar(&f.healthzIP, "healthz-ip", "0.0.0.0", "address of weftd's /readyz listener (weftd's --healthz-ip; a wildcard is asked on loopback)")
	fs.IntVar(&f.healthzPort, "healthz-port", 0, "port of weftd's /readyz listener (weftd's --healthz-port; 0: weftd has none)")
	fs.IntVar(&f.renewMinutes, "subnet-lease-renew-margin", 60, "weftd's renew margin in minutes, fitted to the lease's TTL as weftd fits it")
	_ = cobra.MarkFlagFilename(fs, "subnet-file")
}

// doctorFlags are everything doctor was told about the node.
type doctorFlags struct {
	nodeFlags
	netnsPath string
	// renewMargin is the effective margin: weftd's for our lease's TTL.
	renewMargin time.Duration
}

const doctorLong = `Check this node: its lease and the leases around it in etcd, weftd's own /readyz, the
subnet.env weftd wrote, the forwarding and rp_filter sysctls, the VXLAN device (attributes,
MTU, address, tx checksum offload) and every route, neighbour and FDB entry weftd programs
for its peers, judged with weftd's own admission and planner. Every problem comes with the
exact fix. Exit status 1 when it finds a problem.

When etcd is unreachable, doctor says so and still runs the checks that need no etcd.
The node's settings (--subnet-file, --healthz-port, --public-ip, the renew margin) are read
like every other setting: on a node with weftd's env file or its WEFTD_* environment,
doctor needs no flags.`

func (a *app) doctorCmd() *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "check this node against etcd and weftd; exit 1 on problems",
		Long:  doctorLong,
		Example: `  weftctl doctor
  kubectl -n kube-system exec ds/weft -c weftd -- weftctl doctor -o json`,
		Args: noArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			return a.doctor(ctx, f)
		}),
	}
	addNodeFlags(cmd.Flags(), &f.nodeFlags)
	cmd.Flags().StringVar(&f.netnsPath, "netns", "", "inspect this network namespace (a path such as /var/run/netns/NAME) instead of the current one")
	return cmd
}

func (a *app) doctor(ctx context.Context, f doctorFlags) error {
	h := netns.None()
	if f.netnsPath != "" {
		var err error
		if h, err = netns.GetFromPath(f.netnsPath); err != nil {
			return fmt.Errorf("--netns %s: %w", f.netnsPath, err)
		}
		defer h.Close()
	}
	dp, err := openDataplane(h, f.netnsPath, a.stderr)
	if err != nil {
		return err
	}
	defer dp.Close()
	v := &nodeView{flags: f, ns: h}
	a.readEtcd(ctx, v)
	if v.conn != nil {
		defer v.conn.Close()
	}
	v.env, v.envErr = subnetenv.Read(f.subnetFile)
	if err := v.readKernel(dp); err != nil {
		return err
	}
	v.findOwn()
	a.readOwnTTL(ctx, v)
	v.readWeftd(ctx)
	v.readSysctls()
	v.check()
	rep := v.report()
	if err := emit(a.stdout, a.output, rep, func(w io.Writer) error { return doctorText(w, rep) }); err != nil {
		return err
	}
	if !rep.Healthy {
		return exitError{exitFailure}
	}
	return nil
}

// openDataplane opens netlink in the namespace h (netns.None(): ours).
func openDataplane(h netns.NsHandle, path string, stderr io.Writer) (*netlinkdp.Dataplane, error) {
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(logrus.WarnLevel)
	dp, err := netlinkdp.New(h, log)
	if err != nil {
		if path != "" {
			return nil, fmt.Errorf("open netlink in %s: %w", path, err)
		}
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return dp, nil
}

// readEtcd reads the config and the leases. An unreachable etcd or a
// missing or invalid config is a finding, not the end of doctor: the
// checks that need neither still run.
func (a *app) readEtcd(ctx context.Context, v *nodeView) {
	c, err := a.connect()
	if err == nil {
		v.conn = c
		ctx, cancel := a.etcdContext(ctx)
		defer cancel()
		v.cfg, err = c.reg.GetConfig(ctx)
		if errors.Is(err, subnet.ErrConfigNotFound) || errors.Is(err, subnet.ErrInvalidConfig) {
			v.add(finding{Check: "config", Subject: "network config", Problem: "unusable", Detail: err.Error(),
				Fix: "store a valid config with `weftctl config set -f net-conf.json` (see `weftctl config get`)"})
			v.cfg = nil
			return
		}
		if err == nil {
			v.leases, _, err = c.reg.ListLeases(ctx)
		}
	}
	if err != nil {
		v.cfg, v.leases = nil, nil
		v.etcdErr = err
		v.add(finding{Check: "etcd", Subject: a.etcd.ClientConfig().Endpoints[0], Problem: "unreachable",
			Detail: fmt.Sprintf("etcd did not answer (%v): the lease, peer and config checks are skipped; "+
				"weftd keeps forwarding with the peers it has through an etcd outage", err),
			Fix: fmt.Sprintf("check %s, the TLS settings and that etcd runs and is reachable from this node "+
				"(`weftctl config view` shows where each setting came from)", a.settings.describe("etcd-endpoints"))})
	}
}

// readOwnTTL looks up our etcd lease's remaining and granted TTL and
// fits weftd's renew margin to it.
func (a *app) readOwnTTL(ctx context.Context, v *nodeView) {
	margin := time.Duration(v.flags.renewMinutes) * time.Minute
	v.flags.renewMargin = subnet.EffectiveRenewMargin(margin, 0)
	if v.conn == nil || v.own == nil || v.own.Reserved() || v.etcdErr != nil {
		return
	}
	ctx, cancel := a.etcdContext(ctx)
	defer cancel()
	v.ttl, v.ttlErr = v.conn.reg.LeaseTTL(ctx, v.own.LeaseID)
	if v.ttlErr != nil && !errors.Is(v.ttlErr, subnet.ErrLeaseExpired) {
		v.etcdErr = v.ttlErr
		v.add(finding{Check: "etcd", Subject: a.etcd.ClientConfig().Endpoints[0], Problem: "unreachable",
			Detail: fmt.Sprintf("etcd stopped answering (%v): our lease's TTL is unknown", v.ttlErr),
			Fix:    fmt.Sprintf("check %s and that etcd runs", a.settings.describe("etcd-endpoints"))})
		return
	}
	v.granted = v.conn.grantedTTL(ctx, v.own.LeaseID)
	v.flags.renewMargin = subnet.EffectiveRenewMargin(margin, v.granted)
}
