// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"io/fs"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
)

// cmdDel always runs the delegate's DEL, so an address is never leaked:
// with the stored config, else with one rebuilt from subnet.env, else
// with a release-only config (host-local releases by container ID and
// interface, whatever the range). DEL of an unknown attachment succeeds,
// since the delegate's DEL is idempotent.
func cmdDel(args *skel.CmdArgs) error {
	c, err := newCall(args, "DEL")
	if err != nil {
		return err
	}
	defer c.close()
	conf, err := c.delConfig()
	if err != nil {
		return err
	}
	d, err := parseDelegate(conf)
	if err != nil {
		return configError(c.conf, "delegate", err)
	}
	ctx := context.Background()
	if vconf, _, err := c.forDelegate(ctx, d.Type, conf); err == nil {
		conf = vconf
	} else {
		// Release anyway, in the version ADD used: DEL must not leak.
		c.log.Printf("%v: running DEL with the stored spec version", err)
	}
	if err := invoke.DelegateDel(ctx, d.Type, conf, nil); err != nil {
		// Keep the stored config: the runtime retries DEL.
		return delegateError(d.Type, "DEL", err)
	}
	if err := c.store.Remove(c.att); err != nil {
		return ioError(err)
	}
	return nil
}

// delConfig returns the config ADD stored or, failing that, a rebuilt one.
func (c *call) delConfig() ([]byte, error) {
	stored, err := c.store.Load(c.att)
	switch {
	case err == nil:
		_, perr := parseDelegate(stored)
		if perr == nil {
			return stored, nil
		}
		c.log.Printf("stored delegate config is corrupt (%v): rebuilding it to release", perr)
	case !errors.Is(err, fs.ErrNotExist):
		c.log.Printf("%v: rebuilding the delegate config to release", err)
	}
	env, err := c.readEnv()
	if err != nil {
		// An unknown attachment (DEL repeated, or ADD never ran) lands
		// here too when weftd is down: not worth a log line then.
		if stored != nil {
			c.log.Printf("%v: releasing by container ID alone", err)
		}
		return buildDelegate(c.conf, nil, true)
	}
	return buildDelegate(c.conf, &env, true)
}
