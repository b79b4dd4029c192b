// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/weft-net/weft/internal/cniinstall"
)

// installCNICmd is `weftctl install-cni`, the DaemonSet's init step; all of
// its logic is in internal/cniinstall. It needs no etcd, so it resolves no
// settings: an init container has no env file to read.
func (a *app) installCNICmd() *cobra.Command {
	var o cniinstall.Options
	level := "info"
	cmd := &cobra.Command{
		Use:   "install-cni --conflist FILE",
		Short: "install weft's CNI plugin, missing reference plugins and the conflist (the DaemonSet's init step)",
		Long: `install-cni always installs weft's CNI plugin (atomic rename), installs a reference
plugin only where it is missing (or older, with --upgrade-plugins), and writes the
conflist with a cniVersion every plugin in it supports. A second run writes nothing.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.ConfList == "" {
				return usagef("install-cni: --conflist is required")
			}
			lv, err := logrus.ParseLevel(level)
			if err != nil {
				return usagef("install-cni: --log-level: %v", err)
			}
			log := logrus.New()
			log.SetOutput(a.stderr)
			log.SetLevel(lv)
			if err := cniinstall.Run(cmd.Context(), o, log); err != nil {
				return runError{err}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.ConfList, "conflist", "", "the conflist to install into --conf-dir (required)")
	fs.StringVar(&o.WeftBinary, "weft-binary", cniinstall.DefaultWeftBinary, "weft's CNI plugin to install")
	fs.StringVar(&o.PluginSrc, "plugin-src", cniinstall.DefaultPluginSrc, "directory of the reference plugins to install")
	fs.StringVar(&o.CNIBinDir, "cni-bin-dir", cniinstall.DefaultCNIBinDir, "the runtime's CNI plugin directory")
	fs.StringVar(&o.ConfDir, "conf-dir", cniinstall.DefaultConfDir, "the runtime's CNI config directory")
	fs.BoolVar(&o.UpgradePlugins, "upgrade-plugins", false, "replace reference plugins older than the image's (by their version lines)")
	fs.StringVar(&level, "log-level", level, "debug also logs the files left as they were")
	for _, n := range []string{"conflist", "weft-binary"} {
		_ = cmd.MarkFlagFilename(n)
	}
	return cmd
}
