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
	"github.com/vishvananda/netns"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// finding is one discrepancy doctor found, with what to do about it.
type finding struct {
	// Check is the area: config, lease, leases, subnet.env, device,
	// address, route, neighbour, fdb.
	Check string `json:"check"`
	// Subject is what the finding is about: a subnet, an address, a device.
	Subject string `json:"subject"`
	// Problem is one word: missing, extra, wrong, expiring, expired,
	// duplicate, overlap, unusable, misfit.
	Problem string `json:"problem"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix"`
}

// doctorFlags are doctor's own flags.
type doctorFlags struct {
	subnetFile  string
	netnsPath   string
	publicIP    netip.Addr
	renewMargin time.Duration
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s shared
	var f doctorFlags
	fs := newFlagSet("doctor", "doctor [flags]", stderr, &s)
	fs.StringVar(&f.subnetFile, "subnet-file", subnetenv.DefaultPath, "the subnet.env weftd writes on this node")
	fs.StringVar(&f.netnsPath, "netns", "", "inspect this network namespace (a path such as /var/run/netns/NAME) instead of the current one")
	fs.Var(addrFlag{&f.publicIP}, "public-ip", "this node's PublicIP (default: the local address of its VXLAN device)")
	fs.DurationVar(&f.renewMargin, "renew-margin", time.Hour, "report our lease when it expires sooner than this")
	_, c, err := s.open(fs, args, 0, "", stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	dp, err := openDataplane(f.netnsPath, stderr)
	if err != nil {
		return err
	}
	defer dp.Close()
	rep, err := diagnose(ctx, c.reg, dp, f)
	if err != nil {
		return err
	}
	if err := emit(stdout, s.output, rep, func(w io.Writer) error { return doctorText(w, rep) }); err != nil {
		return err
	}
	if !rep.Healthy {
		return exitError{1}
	}
	return nil
}

// openDataplane opens netlink in the namespace at path ("" = ours).
func openDataplane(path string, stderr io.Writer) (*netlinkdp.Dataplane, error) {
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(logrus.WarnLevel)
	h := netns.None()
	if path != "" {
		var err error
		if h, err = netns.GetFromPath(path); err != nil {
			return nil, fmt.Errorf("--netns %s: %w", path, err)
		}
		defer h.Close()
	}
	dp, err := netlinkdp.New(h, log)
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return dp, nil
}

// diagnose gathers etcd's and the kernel's view and checks them.
func diagnose(ctx context.Context, reg subnet.Registry, dp dataplane.Dataplane, f doctorFlags) (doctorReport, error) {
	v := &nodeView{flags: f}
	var err error
	v.cfg, err = reg.GetConfig(ctx)
	if errors.Is(err, subnet.ErrConfigNotFound) || errors.Is(err, subnet.ErrInvalidConfig) {
		v.add(finding{Check: "config", Subject: "network config", Problem: "unusable", Detail: err.Error(),
			Fix: "store a valid config with `weftctl config set -f net-conf.json` (see `weftctl config get`)"})
		return v.report(), nil
	}
	if err != nil {
		return doctorReport{}, err
	}
	if v.leases, _, err = reg.ListLeases(ctx); err != nil {
		return doctorReport{}, err
	}
	v.env, v.envErr = subnetenv.Read(f.subnetFile)
	if err := v.readKernel(dp); err != nil {
		return doctorReport{}, err
	}
	v.findOwn()
	if v.own != nil && !v.own.Reserved() {
		v.ttl, v.ttlErr = reg.LeaseTTL(ctx, v.own.LeaseID)
		if v.ttlErr != nil && !errors.Is(v.ttlErr, subnet.ErrLeaseExpired) {
			return doctorReport{}, v.ttlErr
		}
	}
	v.check()
	return v.report(), nil
}
