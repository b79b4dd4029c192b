// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// cmdCheck runs the delegate's CHECK with the config ADD stored and the
// result the runtime passes now.
func cmdCheck(args *skel.CmdArgs) error {
	c, err := newCall(args, "CHECK")
	if err != nil {
		return err
	}
	defer c.close()
	stored, err := c.store.Load(c.att)
	if errors.Is(err, fs.ErrNotExist) {
		return types.NewError(types.ErrUnknownContainer,
			fmt.Sprintf("container %s interface %s: no delegate config stored in %s: was ADD run for it?",
				c.att.ContainerID, c.att.IfName, c.store.dir), "")
	}
	if err != nil {
		return ioError(err)
	}
	d, err := parseDelegate(stored)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure,
			fmt.Sprintf("stored delegate config %s is corrupt: %v (DEL and ADD the pod again)", c.store.path(c.att), err), "")
	}
	conf, err := setKeys(stored, []keyValue{
		{"prevResult", c.conf.PrevResult},
		{"runtimeConfig", c.conf.RuntimeConfig},
	})
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("stored delegate config %s: %v", c.store.path(c.att), err), "")
	}
	ctx := context.Background()
	// The delegate may have been upgraded (or downgraded) since ADD.
	if conf, _, err = c.forDelegate(ctx, d.Type, conf); err != nil {
		return delegateError(d.Type, "VERSION", err)
	}
	if err := invoke.DelegateCheck(ctx, d.Type, conf, nil); err != nil {
		return delegateError(d.Type, "CHECK", err)
	}
	return nil
}
