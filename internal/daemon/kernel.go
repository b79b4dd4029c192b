// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"fmt"
	"time"

	"github.com/vishvananda/netns"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/internal/masq"
	"github.com/weft-net/weft/subnet"
)

// nodeKernel is the network namespace weftd programs: its own, or the one
// named by --netns (tests), through one netlink dataplane.
type nodeKernel struct {
	*netlinkdp.Dataplane
	ns netns.NsHandle
}

func (d *daemon) openNode() (*nodeKernel, error) {
	ns := netns.None()
	if d.opts.NetNS != "" {
		h, err := netns.GetFromPath(d.opts.NetNS)
		if err != nil {
			return nil, fmt.Errorf("--netns %s: %w", d.opts.NetNS, err)
		}
		ns = h
	}
	dp, err := netlinkdp.New(ns, d.log.WithField("component", "netlink"))
	if err != nil {
		if ns.IsOpen() {
			_ = ns.Close()
		}
		return nil, err
	}
	d.metrics.setDumpInterruptions(dp.DumpInterruptions)
	return &nodeKernel{Dataplane: dp, ns: ns}, nil
}

// Close releases the netlink sockets and the namespace handle.
func (k *nodeKernel) Close() {
	_ = k.Dataplane.Close()
	if k.ns.IsOpen() {
		_ = k.ns.Close()
	}
}

func (k *nodeKernel) newBackend(cfg *subnet.Config, d *daemon) (backend.Backend, error) {
	be, err := vxlan.New(cfg.Backend, k.Dataplane, vxlan.Options{
		Log:            d.log.WithField("component", "vxlan"),
		ResyncInterval: d.opts.ResyncInterval,
		DualStack:      cfg.EnableIPv4 && cfg.EnableIPv6,
		IPv6Only:       !cfg.EnableIPv4,
		OnReconcile:    d.metrics.observeReconcile,
		// Latency from a lease event (or full set) to its entries being in the kernel.
		OnPeerProgrammed: func(l time.Duration) { d.metrics.eventToKernel.Observe(l.Seconds()) },
	})
	if err != nil {
		return nil, fmt.Errorf("vxlan backend: %w", err)
	}
	return be, nil
}

// newMasq builds the masquerade/forward rules for the namespace and applies
// them once. It returns the rules, nil when neither --ip-masq nor
// --iptables-forward-rules asks for any, and the forwarding switch, which
// the node-state loop keeps on.
func (k *nodeKernel) newMasq(cfg *subnet.Config, l subnet.Lease, d *daemon) (rules *masq.Manager, fwd forwarder, err error) {
	c := masq.Config{
		Masquerade: d.opts.IPMasq, ForwardRules: d.opts.ForwardRules,
		Interval: 5 * time.Second, Log: d.log.WithField("component", "masq"),
	}
	if cfg.EnableIPv4 {
		c.PodNetworks = append(c.PodNetworks, cfg.Network)
		c.NodeSubnets = append(c.NodeSubnets, l.Subnet)
	}
	if cfg.EnableIPv6 && l.IPv6Subnet.IsValid() {
		c.PodNetworks = append(c.PodNetworks, cfg.IPv6Network)
		c.NodeSubnets = append(c.NodeSubnets, l.IPv6Subnet)
	}
	var opts []masq.Option
	if k.ns.IsOpen() {
		opts = append(opts, masq.WithNetNSFd(int(k.ns)))
	}
	m, err := masq.New(c, opts...)
	if err != nil {
		return nil, nil, err
	}
	if !c.Masquerade && !c.ForwardRules {
		d.ready.set("rules", true)
		return nil, m, nil
	}
	if err := m.Apply(); err != nil {
		// Not fatal: Run retries, and /readyz says rules are missing.
		d.log.WithError(err).Error("install masquerade/forward rules; retrying")
	}
	return m, m, nil
}
