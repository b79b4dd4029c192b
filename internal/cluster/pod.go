// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weft-net/weft/internal/netns"
)

// Pod is a network namespace attached to its node through the CNI plugin.
type Pod struct {
	Name        string
	NS          string
	IP          netip.Addr // zero in an IPv6-only network
	IPv6        netip.Addr // dual stack and IPv6-only
	Node        *Node
	containerID string
	deleted     bool
}

// confList loads the cluster's conflist with this node's host paths
// (subnetFile, dataDir, host-local's dataDir) pointed into the node's dir.
func (n *Node) confList() (*libcni.NetworkConfigList, error) {
	raw, err := os.ReadFile(n.c.opts.ConfList)
	if err != nil {
		return nil, fmt.Errorf("cni conflist: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("cni conflist %s: %w", n.c.opts.ConfList, err)
	}
	plugins, _ := doc["plugins"].([]any)
	for _, p := range plugins {
		pm, _ := p.(map[string]any)
		if pm == nil || pm["type"] != "weft" {
			continue
		}
		pm["subnetFile"] = n.SubnetFile()
		pm["dataDir"] = filepath.Join(n.Dir, "cni-weft")
		ipam, _ := pm["ipam"].(map[string]any)
		if ipam == nil {
			ipam = map[string]any{}
		}
		ipam["dataDir"] = filepath.Join(n.Dir, "ipam")
		pm["ipam"] = ipam
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(b)
}

func (n *Node) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{n.c.opts.BinDir, n.c.opts.CNIPath}, filepath.Join(n.Dir, "cni-cache"), nil)
}

// AddPod creates a pod namespace and runs CNI ADD for it, with the plugins
// executed from the node's namespace (as kubelet's runtime would on a node).
func (n *Node) AddPod(ctx context.Context, name string) (*Pod, error) {
	ns, err := n.c.newNS(n.Name + "-" + name)
	if err != nil {
		return nil, err
	}
	p := &Pod{Name: name, NS: ns, Node: n, containerID: "weft-" + n.c.id + "-" + n.Name + "-" + name}
	list, err := n.confList()
	if err != nil {
		return nil, err
	}
	var res *current.Result
	err = netns.Do(n.NS, func() error {
		r, err := n.cni().AddNetworkList(ctx, list, p.runtimeConf())
		if err != nil {
			return err
		}
		res, err = current.NewResultFromResult(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: CNI ADD pod %s: %w", n.Name, name, err)
	}
	for _, ipc := range res.IPs {
		a, ok := netip.AddrFromSlice(ipc.Address.IP)
		switch {
		case !ok:
		case a.Unmap().Is4():
			p.IP = a.Unmap()
		default:
			p.IPv6 = a
		}
	}
	if !p.IP.IsValid() && !p.IPv6.IsValid() {
		return nil, fmt.Errorf("node %s: CNI ADD pod %s: no address in result %v", n.Name, name, res)
	}
	n.mu.Lock()
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	return p, nil
}

func (p *Pod) runtimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: p.containerID, NetNS: netns.Path(p.NS), IfName: "eth0"}
}

// Delete runs CNI DEL for the pod and removes its namespace.
func (p *Pod) Delete(ctx context.Context) error {
	if p.deleted {
		return nil
	}
	n := p.Node
	list, err := n.confList()
	if err != nil {
		return err
	}
	err = netns.Do(n.NS, func() error { return n.cni().DelNetworkList(ctx, list, p.runtimeConf()) })
	if err != nil {
		return fmt.Errorf("node %s: CNI DEL pod %s: %w", n.Name, p.Name, err)
	}
	p.closeNS()
	return nil
}

func (p *Pod) closeNS() {
	if p.deleted {
		return
	}
	p.deleted = true
	_ = netns.Delete(p.NS)
	p.Node.c.forgetNS(p.NS)
}

// forgetNS drops a deleted namespace from the ones Close deletes.
func (c *Cluster) forgetNS(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.nss {
		if s == name {
			c.nss = append(c.nss[:i], c.nss[i+1:]...)
			return
		}
	}
}

// Pods lists the node's pods.
func (n *Node) Pods() []*Pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Pod(nil), n.pods...)
}

// Exec runs a command inside the pod's namespace.
func (p *Pod) Exec(args ...string) (string, error) { return netns.Exec(p.NS, args...) }

// String names the pod for logs and tables.
func (p *Pod) String() string { return p.Node.Name + "/" + p.Name + " (" + p.Addr().String() + ")" }

// Addr is the pod's IPv4 address, or its IPv6 one in an IPv6-only network.
func (p *Pod) Addr() netip.Addr {
	if p.IP.IsValid() {
		return p.IP
	}
	return p.IPv6
}

// EnterHint tells an operator how to get a shell in the pod.
func (p *Pod) EnterHint() string {
	return "ip netns exec " + p.NS + " " + strings.Join([]string{"sh"}, " ")
}
