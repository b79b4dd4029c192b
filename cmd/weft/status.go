// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// cmdStatus reports "not available" (50) while the node cannot serve ADD:
// no usable subnet.env, or no delegate plugin. Otherwise it asks the
// delegate, as the spec wants of a plugin that delegates.
func cmdStatus(args *skel.CmdArgs) error {
	c, err := newCall(args, "STATUS")
	if err != nil {
		return err
	}
	defer c.close()
	env, err := c.readEnv()
	if err != nil {
		var te *types.Error
		if errors.As(err, &te) {
			return types.NewError(types.ErrPluginNotAvailable, te.Msg, te.Details)
		}
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
	cniPath := os.Getenv("CNI_PATH")
	if _, err := invoke.FindInPath(d.Type, filepath.SplitList(cniPath)); err != nil {
		return types.NewError(types.ErrPluginNotAvailable,
			fmt.Sprintf("delegate plugin %q not found in CNI_PATH %q: install the CNI reference plugins", d.Type, cniPath), "")
	}
	ctx := context.Background()
	conf, supported, err := c.forDelegate(ctx, d.Type, conf)
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("delegate %s: %v", d.Type, err), "")
	}
	if !supportsStatus(supported) {
		// Older than spec 1.1.0: it has no STATUS to ask, and answers it
		// with an error that would keep the node NotReady for good.
		return nil
	}
	if err := invoke.DelegateStatus(ctx, d.Type, conf, nil); err != nil {
		return delegateError(d.Type, "STATUS", err)
	}
	return nil
}
