// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// cmdAdd builds the delegate config from subnet.env, stores it, then runs
// the delegate's ADD. The config is stored first: if ADD dies half way,
// DEL still finds what to release.
func cmdAdd(args *skel.CmdArgs) error {
	c, err := newCall(args, "ADD")
	if err != nil {
		return err
	}
	defer c.close()
	env, err := c.readEnv()
	if err != nil {
		return err
	}
	conf, err := buildDelegate(c.conf, &env, false)
	if err != nil {
		return err
	}
	d, err := parseDelegate(conf)
	if err != nil {
		return configError(c.conf, "delegate", err)
	}
	ctx := context.Background()
	if conf, _, err = c.forDelegate(ctx, d.Type, conf); err != nil {
		return delegateError(d.Type, "VERSION", err)
	}
	if err := c.store.Save(c.att, conf); err != nil {
		return ioError(err)
	}
	res, err := invoke.DelegateAdd(ctx, d.Type, conf, nil)
	if err != nil {
		// The runtime should call DEL after a failed ADD; release now
		// anyway, so a runtime that does not cannot leak the address.
		if derr := invoke.DelegateDel(ctx, d.Type, conf, nil); derr != nil {
			c.log.Printf("release after failed ADD: %v", derr)
		} else if rerr := c.store.Remove(c.att); rerr != nil {
			c.log.Print(rerr)
		}
		return delegateError(d.Type, "ADD", err)
	}
	return types.PrintResult(res, c.conf.CNIVersion)
}
