// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/internal/cniinstall"
)

// runInstallCNI is `weftctl install-cni`, the DaemonSet's init step; all
// of its logic is in internal/cniinstall.
func runInstallCNI(ctx context.Context, args []string, _, stderr io.Writer) error {
	var o cniinstall.Options
	fs := flag.NewFlagSet("install-cni", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ConfList, "conflist", "", "the conflist to install into --conf-dir (required)")
	fs.StringVar(&o.WeftBinary, "weft-binary", cniinstall.DefaultWeftBinary, "weft's CNI plugin to install")
	fs.StringVar(&o.PluginSrc, "plugin-src", cniinstall.DefaultPluginSrc, "directory of the reference plugins to install")
	fs.StringVar(&o.CNIBinDir, "cni-bin-dir", cniinstall.DefaultCNIBinDir, "the runtime's CNI plugin directory")
	fs.StringVar(&o.ConfDir, "conf-dir", cniinstall.DefaultConfDir, "the runtime's CNI config directory")
	fs.BoolVar(&o.UpgradePlugins, "upgrade-plugins", false, "replace reference plugins older than the image's (by their version lines)")
	level := fs.String("log-level", "info", "debug also logs the files left as they were")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: weftctl install-cni --conflist FILE [flags]\n\nInstalls weft's CNI plugin, the missing reference plugins and the conflist.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{2}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weftctl install-cni: unexpected arguments %q\n", fs.Args())
		return exitError{2}
	}
	log := logrus.New()
	log.SetOutput(stderr)
	lv, err := logrus.ParseLevel(*level)
	if err != nil {
		fmt.Fprintf(stderr, "weftctl install-cni: --log-level: %v\n", err)
		return exitError{2}
	}
	log.SetLevel(lv)
	return cniinstall.Run(ctx, o, log)
}
