// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weft-net/weft/internal/testbin"
)

// Reference plugin releases a node may carry, and whether each speaks
// spec 1.1.0 (STATUS, GC) by its own VERSION answer: v1.1.1 is what
// Debian 12 ships; v1.4.0 (like v1.5.1) stops at 1.0.0; v1.6.0, the first
// release on libcni v1.2, is the first to speak 1.1.0. `make cni-matrix`
// builds each into bin/cni-<version>; the pinned version is bin/cni ("").
var matrixVersions = []struct {
	version  string
	speaks11 bool
}{{"v1.1.1", false}, {"v1.4.0", false}, {"v1.6.0", true}, {"", true}}

// matrixPluginDir returns the directory of the reference plugins at
// version (or the pinned ones for ""), failing when it was not built.
func matrixPluginDir(t *testing.T, version string) string {
	t.Helper()
	if version == "" {
		return testbin.CNIPath()
	}
	dir := filepath.Join(testbin.Dir(), "cni-"+version)
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatalf("%s not built: run `make cni-matrix` first (make test does): %v", version, err)
		}
	}
	return dir
}

// withConfList returns base at cniVersion with its first nPlugins plugins
// (weft, then portmap).
func withConfList(t *testing.T, base *libcni.NetworkConfigList, cniVersion string, nPlugins int) *libcni.NetworkConfigList {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(base.Bytes, &top); err != nil {
		t.Fatal(err)
	}
	var plugins []json.RawMessage
	if err := json.Unmarshal(top["plugins"], &plugins); err != nil {
		t.Fatal(err)
	}
	top["plugins"], _ = json.Marshal(plugins[:nPlugins])
	top["cniVersion"], _ = json.Marshal(cniVersion)
	b, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestPluginVersionsMatrix: with the reference plugins a node may carry,
// a healthy pod passes CHECK, STATUS gates only where the delegate knows
// it, and DEL frees the address. A weft-only conflist stays at 1.1.0; a
// conflist with an old portmap must be 1.0.0, where STATUS never runs.
func TestPluginVersionsMatrix(t *testing.T) {
	for _, mv := range matrixVersions {
		version, name := mv.version, mv.version
		if name == "" {
			name = "pinned"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, testEnv)
			dir := matrixPluginDir(t, version)
			n.cni = n.cniConfig(n.cacheDir, testbin.Dir(), dir)
			info, err := invoke.GetVersionInfo(context.Background(), filepath.Join(dir, "bridge"), nil)
			if err != nil {
				t.Fatalf("bridge VERSION: %v", err)
			}
			speaks11 := supportsStatus(info.SupportedVersions())
			if speaks11 != mv.speaks11 {
				t.Fatalf("bridge %s supports %v: spec 1.1.0 %v, want %v", name, info.SupportedVersions(), speaks11, mv.speaks11)
			}
			dist := n.list
			for _, tc := range []struct {
				cniVersion string
				nPlugins   int
			}{{"1.1.0", 1}, {"1.0.0", 2}, {"1.1.0", 2}} {
				if tc.nPlugins == 2 && tc.cniVersion == "1.1.0" && !speaks11 {
					// Old portmap in a 1.1.0 conflist fails STATUS: the
					// case the docs tell operators to avoid.
					n.list = withConfList(t, dist, tc.cniVersion, tc.nPlugins)
					if err := n.status(t, n.cni); err == nil {
						t.Errorf("STATUS of a 1.1.0 conflist with portmap %s passed; docs say it fails", name)
					}
					continue
				}
				n.list = withConfList(t, dist, tc.cniVersion, tc.nPlugins)
				checkPodLifecycle(t, n)
			}
			if _, err := os.Stat(filepath.Join(n.dataDir, versionsDir)); err != nil {
				t.Errorf("no VERSION cache in weft's data dir: %v", err)
			}
		})
	}
}

// checkPodLifecycle runs STATUS, ADD, CHECK, GC and DEL of one pod with
// n's conflist and plugins.
func checkPodLifecycle(t *testing.T, n *node) {
	t.Helper()
	label := n.list.CNIVersion + " conflist of " + strings.Join(pluginTypes(n.list), "+")
	if err := n.status(t, n.cni); err != nil {
		t.Errorf("%s: STATUS: %v", label, err)
	}
	p := n.newPod(t)
	_, ip := n.mustAdd(t, p)
	if !testSubnet.Contains(ip) {
		t.Errorf("%s: pod address %s not in %s", label, ip, testSubnet)
	}
	if err := n.check(t, p); err != nil {
		t.Errorf("%s: CHECK of a healthy pod: %v", label, err)
	}
	if routes := podRoutes(t, p.ns, "eth0"); !slices.Contains(routes, "10.244.0.0/16 via "+testGateway.String()) {
		t.Errorf("%s: pod routes %v lack the pod network via the gateway", label, routes)
	}
	if n.list.CNIVersion == "1.1.0" {
		valid := []types.GCAttachment{{ContainerID: p.rt.ContainerID, IfName: p.rt.IfName}}
		if err := n.inNode(t, func(ctx context.Context) error {
			return n.cni.GCNetworkList(ctx, n.list, &libcni.GCArgs{ValidAttachments: valid})
		}); err != nil {
			t.Errorf("%s: GC: %v", label, err)
		}
	}
	if err := n.del(t, p); err != nil {
		t.Errorf("%s: DEL: %v", label, err)
	}
	if got := n.hostLocalFiles(t); len(got) != 0 {
		t.Errorf("%s: DEL left addresses allocated: %v", label, got)
	}
}

func pluginTypes(l *libcni.NetworkConfigList) []string {
	var s []string
	for _, p := range l.Plugins {
		s = append(s, p.Network.Type)
	}
	return s
}
