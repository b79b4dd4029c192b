// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weft is weft's CNI plugin. It reads the node's subnet.env
// (written by weftd, or by flanneld), builds a config for a delegate
// plugin (bridge with host-local IPAM by default) and hands every command
// to it, storing the delegate config per attachment so that DEL releases
// what ADD took even after subnet.env changed or vanished.
//
// The plugin runs once per pod and command, so it stays lean: it links no
// etcd, netlink or logging framework and does nothing at init; it logs
// with the standard library to stderr or to "logFile".
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	cniversion "github.com/containernetworking/cni/pkg/version"

	"github.com/weft-net/weft/internal/version"
)

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    cmdAdd,
		Del:    cmdDel,
		Check:  cmdCheck,
		Status: cmdStatus,
		GC:     cmdGC,
	}, cniversion.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"), "weft CNI plugin "+version.Get().String())
}
