// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/testbin"
)

// cniTimeout bounds one libcni call; generous, it only catches hangs.
const cniTimeout = 2 * time.Minute

// node is a test node: a namespace that holds cni0 and runs the plugins,
// with the dist conflist's host paths pointed into a temp dir.
type node struct {
	ns         *nstest.NS
	dir        string
	subnetFile string
	dataDir    string // weft's stored delegate configs
	ipamDir    string // host-local's dataDir
	cacheDir   string // libcni's cache
	list       *libcni.NetworkConfigList
	cni        *libcni.CNIConfig
}

// pod is a namespace attached (or to be attached) through the node.
type pod struct {
	ns *nstest.NS
	rt *libcni.RuntimeConf
}

// newNode creates the node namespace and writes env (skipped when "") as
// its subnet.env.
func newNode(t testing.TB, env string) *node {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: needs root and the built plugins (make test runs it)")
	}
	nstest.RequireRoot(t)
	testbin.Path(t, "weft")
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		testbin.CNIPlugin(t, p)
	}
	dir := t.TempDir()
	n := &node{
		ns:         nstest.New(t),
		dir:        dir,
		subnetFile: filepath.Join(dir, "run", "subnet.env"),
		dataDir:    filepath.Join(dir, "weft"),
		ipamDir:    filepath.Join(dir, "networks"),
		cacheDir:   filepath.Join(dir, "cache"),
	}
	if env != "" {
		n.writeEnv(t, env)
	}
	n.list = n.loadConfList(t)
	n.cni = n.cniConfig(n.cacheDir, testbin.Dir(), testbin.CNIPath())
	return n
}

func (n *node) cniConfig(cacheDir string, path ...string) *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(path, cacheDir, nil)
}

// loadConfList loads dist/cni/10-weft.conflist, the file operators
// install, and points its host paths into the test's dir. It fails if the
// keys it rewrites are missing, so the test and the file cannot drift.
func (n *node) loadConfList(t testing.TB) *libcni.NetworkConfigList {
	t.Helper()
	path := filepath.Join(testbin.RepoRoot(), "dist", "cni", "10-weft.conflist")
	if _, err := libcni.ConfListFromFile(path); err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	var plugins []map[string]any
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(top["plugins"], &plugins); err != nil {
		t.Fatal(err)
	}
	weft := plugins[0]
	ipam, _ := weft["ipam"].(map[string]any)
	if weft["type"] != "weft" || weft["subnetFile"] == nil || weft["dataDir"] == nil || ipam["dataDir"] == nil {
		t.Fatalf("%s: first plugin must be weft with subnetFile, dataDir and ipam.dataDir set", path)
	}
	weft["subnetFile"], weft["dataDir"], ipam["dataDir"] = n.subnetFile, n.dataDir, n.ipamDir
	if top["plugins"], err = json.Marshal(plugins); err != nil {
		t.Fatal(err)
	}
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

func (n *node) writeEnv(t testing.TB, env string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(n.subnetFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.subnetFile, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newPod creates a pod namespace; nothing is attached yet.
func (n *node) newPod(t testing.TB) *pod {
	t.Helper()
	ns := nstest.New(t)
	return &pod{ns: ns, rt: &libcni.RuntimeConf{
		ContainerID: "ctr-" + randomHex(6),
		NetNS:       ns.Path(),
		IfName:      "eth0",
	}}
}

// inNode runs f (a libcni call) with the calling thread in the node
// namespace: the plugins libcni execs inherit it, so cni0 and the host
// side of the veth are created there, never in the root namespace.
func (n *node) inNode(t testing.TB, f func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout)
	defer cancel()
	return n.ns.Do(func() error { return f(ctx) })
}

func (n *node) add(t testing.TB, p *pod) (*current.Result, error) {
	t.Helper()
	var res *current.Result
	err := n.inNode(t, func(ctx context.Context) error {
		r, err := n.cni.AddNetworkList(ctx, n.list, p.rt)
		if err != nil {
			return err
		}
		res, err = current.NewResultFromResult(r)
		return err
	})
	return res, err
}

// mustAdd attaches p and returns its IPv4 address.
func (n *node) mustAdd(t testing.TB, p *pod) (*current.Result, netip.Addr) {
	t.Helper()
	res, err := n.add(t, p)
	if err != nil {
		t.Fatalf("ADD %s: %v", p.rt.ContainerID, err)
	}
	for _, ipc := range res.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok && a.Unmap().Is4() {
			return res, a.Unmap()
		}
	}
	t.Fatalf("ADD %s: no IPv4 address in result %v", p.rt.ContainerID, res)
	return nil, netip.Addr{}
}

func (n *node) del(t testing.TB, p *pod) error {
	t.Helper()
	return n.inNode(t, func(ctx context.Context) error { return n.cni.DelNetworkList(ctx, n.list, p.rt) })
}

func (n *node) check(t testing.TB, p *pod) error {
	t.Helper()
	return n.inNode(t, func(ctx context.Context) error { return n.cni.CheckNetworkList(ctx, n.list, p.rt) })
}

func (n *node) status(t testing.TB, c *libcni.CNIConfig) error {
	t.Helper()
	return n.inNode(t, func(ctx context.Context) error { return c.GetStatusNetworkList(ctx, n.list) })
}

// hostLocalFiles returns host-local's address files for the network, by
// address, with their content.
func (n *node) hostLocalFiles(t testing.TB) map[string]string {
	t.Helper()
	dir := filepath.Join(n.ipamDir, n.list.Name)
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return map[string]string{}
	}
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// statePath is where weft stores p's delegate config.
func (n *node) statePath(p *pod) string {
	return filepath.Join(n.dataDir, n.list.Name, p.rt.ContainerID+":"+p.rt.IfName)
}

// rootLinks lists the interface names of the root namespace (read only).
func rootLinks(t testing.TB) map[string]bool {
	t.Helper()
	out, err := runCmd("ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 {
			links[strings.SplitN(strings.TrimSuffix(fields[1], ":"), "@", 2)[0]] = true
		}
	}
	return links
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
