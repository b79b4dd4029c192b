// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// underlaySource is what selection needs from the kernel; dataplane.Dataplane
// satisfies it, tests use tables.
type underlaySource interface {
	Links() ([]dataplane.Link, error)
	RouteGet(dst netip.Addr) (dataplane.Route, error)
	DefaultRouteLink(f dataplane.Family) (int, error)
}

// selectUnderlay looks up what the operator's query needs from the kernel
// and lets backend.ChooseInterface pick: --iface (names or addresses, in
// order), else --iface-regex, else --iface-can-reach, else the interface of
// the default route. The reason is returned for the log, since a wrong pick
// is the most common install problem.
func selectUnderlay(src underlaySource, o *Options, cfg *subnet.Config) (backend.ExternalInterface, string, error) {
	links, err := src.Links()
	if err != nil {
		return backend.ExternalInterface{}, "", fmt.Errorf("list interfaces: %w", err)
	}
	q := backend.InterfaceQuery{Ifaces: o.Ifaces, PublicIP: o.PublicIP, PublicIPv6: o.PublicIPv6,
		IPv6: cfg.EnableIPv6, NoIPv4: !cfg.EnableIPv4}
	for _, expr := range o.IfaceRegex {
		re, err := regexp.Compile(expr)
		if err != nil {
			return backend.ExternalInterface{}, "", fmt.Errorf("--iface-regex %q: %w", expr, err)
		}
		q.Regexes = append(q.Regexes, re)
	}
	switch {
	case len(q.Ifaces) > 0 || len(q.Regexes) > 0:
	case o.IfaceCanReach.IsValid():
		q.CanReach = o.IfaceCanReach
		if q.Reach, err = src.RouteGet(o.IfaceCanReach); err != nil {
			return backend.ExternalInterface{}, "", fmt.Errorf("--iface-can-reach %s: %w", o.IfaceCanReach, err)
		}
	case q.NoIPv4:
		if q.DefaultLinkIndex, err = src.DefaultRouteLink(dataplane.IPv6); err != nil {
			return backend.ExternalInterface{}, "", fmt.Errorf("no --iface given and no IPv6 default route to pick one by (the network is IPv6-only): %w", err)
		}
	default:
		if q.DefaultLinkIndex, err = src.DefaultRouteLink(dataplane.IPv4); err != nil {
			return backend.ExternalInterface{}, "", fmt.Errorf("no --iface given and no IPv4 default route to pick one by: %w", err)
		}
	}
	return backend.ChooseInterface(links, q)
}

// underlayPolicy polls each second: the interface may come up after weftd
// (a bond, a NIC renamed by udev), and selection only reads the kernel.
var underlayPolicy = policy{step: "select underlay", warn: "waiting for the underlay interface", initial: time.Second, max: time.Second}

// waitUnderlay retries selection until it succeeds. It returns an error
// only when ctx ends.
func (d *daemon) waitUnderlay(ctx context.Context, src underlaySource) (backend.ExternalInterface, error) {
	var (
		ext backend.ExternalInterface
		why string
	)
	err := retry(ctx, d.log, underlayPolicy, func(context.Context) error {
		var err error
		ext, why, err = selectUnderlay(src, &d.opts, d.cfg)
		return err
	})
	if err != nil {
		return backend.ExternalInterface{}, err
	}
	d.log.WithFields(familyFields(logrus.Fields{"iface": ext.Name, "mtu": ext.MTU, "reason": why},
		"iface_addr", ext.IfaceAddr, "public_ip", ext.PublicIP, "iface_addr_v6", ext.IfaceAddrV6, "public_ipv6", ext.PublicIPv6)).
		Info("underlay interface selected")
	return ext, nil
}

// followUnderlay re-selects the underlay periodically. When the interface
// came back with a new index or an address changed, the device is set up
// again on it and our lease's PublicIP follows.
func (d *daemon) followUnderlay(ctx context.Context, src underlaySource, be backend.Backend, ext backend.ExternalInterface) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now, _, err := selectUnderlay(src, &d.opts, d.cfg)
		if err != nil || now == ext {
			continue // gone for now: the backend keeps state; we retry
		}
		d.log.WithFields(logrus.Fields{"iface": now.Name, "index": now.Index, "public_ip": now.PublicIP, "old_public_ip": ext.PublicIP}).
			Warn("underlay interface changed; setting the device up again")
		attrs, err := be.SetUnderlay(now)
		if err != nil {
			d.log.WithError(err).Error("set up device on the new underlay; retrying")
			continue
		}
		ext = now
		d.adm.setUnderlay(now)
		d.adm.refresh(ctx)
		switch err := d.updateLeaseAttrs(ctx, attrs); {
		case errors.Is(err, context.Canceled):
			return nil
		case err != nil:
			// Often a re-claim raced us (our key has a new revision): the
			// next tick retries with the current lease.
			d.log.WithError(err).Warn("update lease with the new public IP; retrying")
			ext = backend.ExternalInterface{} // force another attempt
		}
	}
}

// updateLeaseAttrs writes attrs into our lease key unless it holds them
// already, holding leaseWrite from reading our lease to recording the
// new one.
func (d *daemon) updateLeaseAttrs(ctx context.Context, attrs subnet.LeaseAttrs) error {
	d.leaseWrite.Lock()
	defer d.leaseWrite.Unlock()
	l := d.currentLease()
	if sameAttrs(attrs, l.Attrs) {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	nl, err := d.mgr.UpdateAttrs(cctx, l, attrs)
	cancel()
	if err != nil {
		return err
	}
	if d.afterLeaseWrite != nil {
		d.afterLeaseWrite()
	}
	d.setLease(nl)
	select {
	case d.leaseUpdated <- struct{}{}:
	default:
	}
	d.log.WithFields(logrus.Fields{"subnet": nl.Subnet, "public_ip": nl.Attrs.PublicIP}).Info("lease updated with the new public IP")
	return nil
}
