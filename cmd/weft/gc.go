// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weft-net/weft/subnet/subnetenv"
)

// cmdGC forwards GC to the delegate, as the spec asks, then drops weft's
// stored configs and host-local's address files of every attachment the
// runtime no longer holds: host-local ignores GC at the pinned version,
// and its leaked addresses are what exhausts a node's range.
func cmdGC(args *skel.CmdArgs) error {
	c, err := newCall(args, "GC")
	if err != nil {
		return err
	}
	defer c.close()
	valid, listed, err := c.conf.validAttachments()
	if err != nil {
		return err
	}
	var envp *subnetenv.Env
	if env, err := c.readEnv(); err == nil {
		envp = &env
	}
	conf, err := buildDelegate(c.conf, envp, true)
	if err != nil {
		return err
	}
	d, err := parseDelegate(conf)
	if err != nil {
		return configError(c.conf, "delegate", err)
	}
	var errs []error
	ctx := context.Background()
	switch conf, supported, err := c.forDelegate(ctx, d.Type, conf); {
	case err != nil:
		errs = append(errs, delegateError(d.Type, "VERSION", err))
	case !supportsStatus(supported):
		// Older than spec 1.1.0, so no GC of its own: weft's sweep below
		// still releases host-local's addresses.
	default:
		if err := invoke.DelegateGC(ctx, d.Type, conf, nil); err != nil {
			errs = append(errs, delegateError(d.Type, "GC", err))
		}
	}
	if !listed {
		c.log.Print("no cni.dev/valid-attachments in the GC request: nothing swept")
		return errors.Join(errs...)
	}
	errs = append(errs, c.sweep(d, valid))
	if err := errors.Join(errs...); err != nil {
		return types.NewError(types.ErrIOFailure, err.Error(), "")
	}
	return nil
}

func (c *call) sweep(d delegateInfo, valid map[attachment]bool) error {
	removed, serr := c.store.Sweep(valid)
	for _, a := range removed {
		c.log.Printf("dropped stored delegate config of stale attachment %s/%s", a.ContainerID, a.IfName)
	}
	if d.IPAM.Type != defaultIPAMType {
		return serr
	}
	dir := hostLocalDir(d, c.conf.Name)
	released, herr := sweepHostLocal(dir, valid)
	for _, ip := range released {
		c.log.Printf("released %s in %s: its attachment is gone", ip, dir)
	}
	if herr != nil {
		herr = fmt.Errorf("host-local store: %w", herr)
	}
	return errors.Join(serr, herr)
}
